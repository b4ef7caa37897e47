/* SPDX-License-Identifier: MIT */
/* Routes of backups: create, restore and verify are operations; list, show, delete are quick. */
#define LOG_MODULE "svc"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup.h"
#include "svc/svc-internal.h"

struct backup_args {
	const char *volume, *target, *label;
	struct json_object *volumes; /* a set: names, held by body */
	bool incremental, original, instant;
	const char *verify;              /* restore: "written" (default) or "readback" */
	enum backup_restore_check check; /* restore: from verify */
	char id[UUID_STR_LEN];           /* a backup id from the path */
	char op_id[UUID_STR_LEN];        /* the operation running it */
	struct json_object *body;        /* holds the strings above */
};

static void backup_args_free(void *data)
{
	struct backup_args *a = data;

	json_object_put(a->body);
	free(a);
}

static int backup_id_param(struct svc_call *call)
{
	if (!uuid_is_valid(call->params[0])) {
		call_reply_error(call, -ENOENT, "backup '%.64s' not found (ids are UUIDs)",
		                 call->params[0]);
		return -ENOENT;
	}
	return 0;
}

static struct backup_args *backup_args_new(struct svc_call *call)
{
	struct backup_args *a = calloc(1, sizeof(*a));

	if (!a) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return NULL;
	}
	call->data = a;
	call->data_free = backup_args_free;
	return a;
}

/* Hand the arguments to an operation: they outlive the call. */
static void backup_op_start(struct svc_call *call, const char *kind, const char *rname,
                            op_work_fn work)
{
	struct backup_args *a = call->data;
	struct json_object *op;

	a->body = json_object_get(call->body);
	call->data = NULL;
	call->data_free = NULL;
	op = op_start(call->svc, kind, "backup", rname, work, a, backup_args_free, a->op_id);
	call_reply_json(call, 202, op);
}

static void backups_list_work(struct svc_call *call)
{
	const char *volume = http_request_query_param(call->req, "volume");
	struct json_object *arr = NULL;

	if (backup_list(call->svc->cluster, volume, &arr, &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	json_add(call->reply, "backups", arr);
}

static void route_backups_list(struct svc_call *call)
{
	const char *volume = http_request_query_param(call->req, "volume");
	struct cairn_err err = {0};

	if (volume && name_validate(volume, "volume", &err) < 0) {
		call_reply_err(call, &err);
		return;
	}
	call_submit(call, backups_list_work, false);
}

static int backup_create_work(struct svc *svc, void *data, struct cairn_progress *progress,
                              struct json_object **ret_result, struct cairn_err *err)
{
	struct backup_args *a = data;
	size_t n = a->volumes ? json_object_array_length(a->volumes) : 0;
	_cleanup_(freep) const char **names = n ? calloc(n, sizeof(char *)) : NULL;
	struct backup_create_params p = {
	        .volume = a->volume,
	        .volumes = names,
	        .n_volumes = n,
	        .incremental = a->incremental,
	        .label = a->label,
	        .op_id = a->op_id,
	};

	if (n && !names)
		return err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		names[i] = json_object_get_string(json_object_array_get_idx(a->volumes, i));
	if (a->target) {
		p.has_target = true;
		p.target = (enum backup_target)backup_target_from_string(a->target);
	}
	/* retention ([backup] keep_last) runs inside, after the backup is good */
	return backup_create(svc->cluster, &p, progress, ret_result, err);
}

static void route_backups_create(struct svc_call *call)
{
	struct backup_args *a = backup_args_new(call);
	const struct jfield fields[] = {
	        {"volume", JF_NAME, offsetof(struct backup_args, volume), 0, NULL},
	        {"volumes", JF_CUSTOM, offsetof(struct backup_args, volumes), 0,
	         call_check_volume_list},
	        {"incremental", JF_BOOL, offsetof(struct backup_args, incremental), 0, NULL},
	        {"target", JF_STRING, offsetof(struct backup_args, target), JF_NULLABLE, NULL},
	        {"label", JF_STRING, offsetof(struct backup_args, label), JF_NULLABLE, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	if (!a || call_parse_body(call, fields, a, NULL) < 0)
		return;
	if (!a->volume == !a->volumes) {
		call_reply_error(
		        call, -EINVAL,
		        "give field 'volume' (one volume) or 'volumes' (the disks of a VM, "
		        "backed up at one point), not %s",
		        a->volume ? "both" : "neither");
		return;
	}
	if (a->target && backup_target_from_string(a->target) < 0) {
		call_reply_error(call, -EINVAL,
		                 "field 'target' must be 'pool' or 'file', not '%.32s'", a->target);
		return;
	}
	if (a->label && strlen(a->label) >= BACKUP_LABEL_MAX) {
		call_reply_error(call, -EINVAL, "field 'label' is longer than %d bytes",
		                 BACKUP_LABEL_MAX - 1);
		return;
	}
	backup_op_start(call, "backup.create",
	                a->volume
	                        ? a->volume
	                        : json_object_get_string(json_object_array_get_idx(a->volumes, 0)),
	                backup_create_work);
}

static void backup_show_work(struct svc_call *call)
{
	backup_show(call->svc->cluster, call->params[0], &call->reply, &call->err);
}

static void route_backup_show(struct svc_call *call)
{
	if (backup_id_param(call) < 0)
		return;
	call_submit(call, backup_show_work, false);
}

static void backup_delete_work(struct svc_call *call)
{
	if (backup_delete(call->svc->cluster, call->params[0], &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	json_add_string(call->reply, "id", call->params[0]);
	json_add_bool(call->reply, "deleted", true);
}

static void route_backup_delete(struct svc_call *call)
{
	if (backup_id_param(call) < 0)
		return;
	call_submit(call, backup_delete_work, true);
}

static int backup_restore_work(struct svc *svc, void *data, struct cairn_progress *progress,
                               struct json_object **ret_result, struct cairn_err *err)
{
	struct backup_args *a = data;
	struct backup_restore_params p = {
	        .volume = a->volume,
	        .original = a->original,
	        .check = a->check,
	        .op_id = a->op_id,
	};

	int r = a->instant ? backup_restore_instant(svc->cluster, a->id, &p, ret_result, err)
	                   : backup_restore(svc->cluster, a->id, &p, progress, ret_result, err);

	svc_show_changed(svc); /* a new volume, or the original's content and facts */
	return r;
}

static void route_backup_restore(struct svc_call *call)
{
	struct backup_args *a;
	const struct jfield fields[] = {
	        {"volume", JF_NAME, offsetof(struct backup_args, volume), JF_NULLABLE, NULL},
	        {"original", JF_BOOL, offsetof(struct backup_args, original), 0, NULL},
	        {"instant", JF_BOOL, offsetof(struct backup_args, instant), 0, NULL},
	        {"verify", JF_STRING, offsetof(struct backup_args, verify), JF_NULLABLE, NULL},
	        {NULL, 0, 0, 0, NULL},
	};
	int check = BACKUP_RESTORE_CHECK_WRITTEN;

	if (backup_id_param(call) < 0 || !(a = backup_args_new(call)) ||
	    call_parse_body(call, fields, a, NULL) < 0)
		return;
	if (a->volume && a->original) {
		call_reply_error(call, -EINVAL,
		                 "give either 'volume' (a new one) or 'original', not both");
		return;
	}
	if (a->instant && a->original) {
		call_reply_error(call, -EINVAL,
		                 "an instant restore makes a new volume: 'instant' and 'original' "
		                 "do not go together");
		return;
	}
	if (a->verify && (check = backup_restore_check_from_string(a->verify)) < 0) {
		call_reply_error(call, -EINVAL,
		                 "'verify' must be \"written\" (the default) or \"readback\", "
		                 "not \"%.64s\"",
		                 a->verify);
		return;
	}
	a->check = (enum backup_restore_check)check;
	str_copy(a->id, sizeof(a->id), call->params[0]);
	backup_op_start(call, "backup.restore", a->id, backup_restore_work);
}

static int backup_verify_work(struct svc *svc, void *data, struct cairn_progress *progress,
                              struct json_object **ret_result, struct cairn_err *err)
{
	struct backup_args *a = data;

	return backup_verify(svc->cluster, a->id, progress, ret_result, err);
}

static void route_backup_verify(struct svc_call *call)
{
	static const struct jfield no_fields[] = {{NULL, 0, 0, 0, NULL}};
	struct backup_args *a;

	if (backup_id_param(call) < 0 || !(a = backup_args_new(call)) ||
	    call_parse_body(call, no_fields, NULL, NULL) < 0)
		return;
	str_copy(a->id, sizeof(a->id), call->params[0]);
	backup_op_start(call, "backup.verify", a->id, backup_verify_work);
}

const struct route routes_backups[] = {
        {HTTP_METHOD_GET, "/v1/backups", route_backups_list, ROUTE_CLUSTER,
         "list backups (?volume)"},
        {HTTP_METHOD_POST, "/v1/backups", route_backups_create, ROUTE_MUTATING | ROUTE_CLUSTER,
         "back up a volume (operation)"},
        {HTTP_METHOD_GET, "/v1/backups/{id}", route_backup_show, ROUTE_CLUSTER, "show a backup"},
        {HTTP_METHOD_DELETE, "/v1/backups/{id}", route_backup_delete,
         ROUTE_MUTATING | ROUTE_CLUSTER, "delete a backup"},
        {HTTP_METHOD_POST, "/v1/backups/{id}/restore", route_backup_restore,
         ROUTE_MUTATING | ROUTE_CLUSTER, "restore a backup (operation)"},
        {HTTP_METHOD_POST, "/v1/backups/{id}/verify", route_backup_verify,
         ROUTE_MUTATING | ROUTE_CLUSTER, "verify a backup and its chain (operation)"},
        {0, NULL, NULL, 0, NULL},
};
