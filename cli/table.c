/* SPDX-License-Identifier: MIT */
/*
 * The command table and its handlers. A handler runs after the arguments were checked
 * against its entry; it only turns them into an HTTP request (method, path, JSON body)
 * and may refuse combinations the table cannot express (a usage error).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "cli/cli.h"

/* ---- request building ---------------------------------------------------------------- */

void cli_request_release(struct cli_request *req)
{
	cli_buf_release(&req->path);
	if (req->body)
		json_object_put(req->body);
	req->body = NULL;
	req->method = NULL;
}

/* Start a request: path is a literal prefix; POST gets an empty JSON object body. */
static int req_start(struct cli_request *req, const char *method, const char *path)
{
	req->method = method;
	cli_buf_puts(&req->path, path);
	if (strcmp(method, "POST") == 0) {
		req->body = json_object_new_object();
		if (!req->body)
			return -ENOMEM;
	}
	return cli_buf_error(&req->path);
}

static void req_segment(struct cli_request *req, const char *segment)
{
	cli_buf_putc(&req->path, '/');
	cli_buf_put_encoded(&req->path, segment);
}

/* ?key=value&...; value NULL adds a bare "?key" */
static void req_query(struct cli_request *req, const char *key, const char *value)
{
	cli_buf_putc(&req->path, strchr(cli_buf_str(&req->path), '?') ? '&' : '?');
	cli_buf_puts(&req->path, key);
	if (value) {
		cli_buf_putc(&req->path, '=');
		cli_buf_put_encoded(&req->path, value);
	}
}

static void req_query_opt(struct cli_request *req, const struct cli_invocation *inv,
                          const char *opt, const char *key)
{
	const struct cli_value *v = cli_opt(inv, opt);

	if (v->set)
		req_query(req, key, v->str);
}

/* a bare ?key when the flag opt is given */
static void req_query_flag(struct cli_request *req, const struct cli_invocation *inv,
                           const char *opt)
{
	if (cli_opt(inv, opt)->set)
		req_query(req, opt, NULL);
}

static int req_done(struct cli_request *req)
{
	return cli_buf_error(&req->path);
}

static int body_string_opt(struct cli_request *req, const struct cli_invocation *inv,
                           const char *opt, const char *key)
{
	const struct cli_value *v = cli_opt(inv, opt);

	return v->set ? json_add_string(req->body, key, v->str) : 0;
}

static int body_flag_opt(struct cli_request *req, const struct cli_invocation *inv, const char *opt,
                         const char *key)
{
	const struct cli_value *v = cli_opt(inv, opt);

	return v->set ? json_add_bool(req->body, key, true) : 0;
}

static const struct cli_value cli_value_unset;

int cli_command_opt_index(const struct cli_command *cmd, const char *name)
{
	for (int i = 0; cmd->opts && cmd->opts[i].name; i++)
		if (strcmp(cmd->opts[i].name, name) == 0)
			return i;
	return -1;
}

const struct cli_value *cli_opt(const struct cli_invocation *inv, const char *name)
{
	int i = cli_command_opt_index(inv->cmd, name);

	return i < 0 ? &cli_value_unset : &inv->opts[i];
}

/* ---- handlers -------------------------------------------------------------------------- */

static int h_health(const struct cli_invocation *inv, struct cli_request *req,
                    struct cairn_err *err)
{
	return req_start(req, "GET", "/v1/health");
}

static int h_events(const struct cli_invocation *inv, struct cli_request *req,
                    struct cairn_err *err)
{
	return req_start(req, "GET", "/v1/events");
}

static int h_pool_list(const struct cli_invocation *inv, struct cli_request *req,
                       struct cairn_err *err)
{
	return req_start(req, "GET", "/v1/pools");
}

static int h_pool_init(const struct cli_invocation *inv, struct cli_request *req,
                       struct cairn_err *err)
{
	return req_start(req, "POST", "/v1/pools/init");
}

static int h_secret_ensure(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_start(req, "POST", "/v1/secret/ensure");

	if (r < 0)
		return r;
	return body_string_opt(req, inv, "uri", "uri");
}

/* GET/DELETE collection[/arg0] */
static int req_item(struct cli_request *req, const char *method, const char *collection,
                    const char *item)
{
	int r = req_start(req, method, collection);

	if (r < 0)
		return r;
	req_segment(req, item);
	return req_done(req);
}

/* POST collection/arg0/action */
static int req_action(struct cli_request *req, const char *collection, const char *item,
                      const char *action)
{
	int r = req_start(req, "POST", collection);

	if (r < 0)
		return r;
	req_segment(req, item);
	cli_buf_putc(&req->path, '/');
	cli_buf_puts(&req->path, action);
	return req_done(req);
}

/* images */

static int h_image_import(const struct cli_invocation *inv, struct cli_request *req,
                          struct cairn_err *err)
{
	const char *file = inv->args[1];
	_cleanup_(freep) char *abs = NULL;
	int r;

	/*
	 * cairnd runs elsewhere in the file system: a relative path that names a file here
	 * is sent absolute; one that does not is left for cairnd to resolve under its
	 * import directory.
	 */
	if (file[0] != '/' && access(file, F_OK) == 0) {
		abs = realpath(file, NULL);
		if (abs)
			file = abs;
	}
	r = req_start(req, "POST", "/v1/images");
	if (r < 0)
		return r;
	if (json_add_string(req->body, "name", inv->args[0]) < 0 ||
	    json_add_string(req->body, "file", file) < 0 ||
	    body_string_opt(req, inv, "format", "format") < 0)
		return -ENOMEM;
	return 0;
}

static int h_image_list(const struct cli_invocation *inv, struct cli_request *req,
                        struct cairn_err *err)
{
	int r = req_start(req, "GET", "/v1/images");

	if (r < 0)
		return r;
	req_query_flag(req, inv, "hidden");
	return req_done(req);
}

static int h_image_show(const struct cli_invocation *inv, struct cli_request *req,
                        struct cairn_err *err)
{
	return req_item(req, "GET", "/v1/images", inv->args[0]);
}

static int h_image_delete(const struct cli_invocation *inv, struct cli_request *req,
                          struct cairn_err *err)
{
	int r = req_item(req, "DELETE", "/v1/images", inv->args[0]);

	if (r < 0)
		return r;
	req_query_flag(req, inv, "deferred");
	return req_done(req);
}

/* volumes */

static int body_labels(struct cli_request *req, const struct cli_value *v, struct cairn_err *err)
{
	struct json_object *labels;

	if (!v->set)
		return 0;
	labels = json_object_new_object();
	if (json_add(req->body, "labels", labels) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_items; i++) {
		_cleanup_(freep) char *key = NULL;
		const char *value;
		int r = cli_label_split(v->items[i], &key, &value, err);

		if (r < 0)
			return r;
		if (json_object_object_get_ex(labels, key, NULL))
			return err_set(err, -EINVAL, "label '%s' is given twice", key);
		if (json_add_string(labels, key, value) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* the QoS limits: --qos-X sets the API's "qos": {"X"} (docs/api.md) */
static const struct {
	const char *opt, *key;
} qos_opts[] = {
        {"qos-iops", "iops"}, {"qos-read-iops", "read_iops"}, {"qos-write-iops", "write_iops"},
        {"qos-bps", "bps"},   {"qos-read-bps", "read_bps"},   {"qos-write-bps", "write_bps"},
};

static bool qos_given(const struct cli_invocation *inv)
{
	for (size_t i = 0; i < ARRAY_SIZE(qos_opts); i++)
		if (cli_opt(inv, qos_opts[i].opt)->set)
			return true;
	return false;
}

/* "qos": {...} from the --qos-* options, when any is given */
static int body_qos(struct cli_request *req, const struct cli_invocation *inv)
{
	struct json_object *qos;

	if (!qos_given(inv))
		return 0;
	qos = json_object_new_object();
	if (json_add(req->body, "qos", qos) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(qos_opts); i++) {
		const struct cli_value *v = cli_opt(inv, qos_opts[i].opt);

		if (v->set && json_add_uint(qos, qos_opts[i].key, v->num) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int h_volume_create(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	const struct cli_value *size = cli_opt(inv, "size");
	int sources = cli_opt(inv, "image")->set + cli_opt(inv, "snapshot")->set +
	              cli_opt(inv, "volume")->set;
	int r;

	if (sources > 1)
		return err_set(err, -EINVAL,
		               "give at most one of --image, --snapshot and --volume");
	if (sources == 0 && !size->set)
		return err_set(err, -EINVAL,
		               "a blank volume needs --size (or clone one with --image, "
		               "--snapshot or --volume)");
	r = req_start(req, "POST", "/v1/volumes");
	if (r < 0)
		return r;
	if (json_add_string(req->body, "name", inv->args[0]) < 0)
		return -ENOMEM;
	if (size->set && json_add_uint(req->body, "size", size->num) < 0)
		return -ENOMEM;
	if (body_string_opt(req, inv, "image", "image") < 0 ||
	    body_string_opt(req, inv, "snapshot", "snapshot") < 0 ||
	    body_string_opt(req, inv, "volume", "volume") < 0 ||
	    body_string_opt(req, inv, "pool", "pool") < 0)
		return -ENOMEM;
	if (body_qos(req, inv) < 0)
		return -ENOMEM;
	return body_labels(req, cli_opt(inv, "label"), err);
}

static int h_volume_list(const struct cli_invocation *inv, struct cli_request *req,
                         struct cairn_err *err)
{
	int r = req_start(req, "GET", "/v1/volumes");

	if (r < 0)
		return r;
	req_query_opt(req, inv, "pool", "pool");
	req_query_opt(req, inv, "label", "label");
	req_query_opt(req, inv, "parent", "parent");
	req_query_flag(req, inv, "hidden");
	return req_done(req);
}

static int h_volume_show(const struct cli_invocation *inv, struct cli_request *req,
                         struct cairn_err *err)
{
	return req_item(req, "GET", "/v1/volumes", inv->args[0]);
}

static int h_volume_delete(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_item(req, "DELETE", "/v1/volumes", inv->args[0]);

	if (r < 0)
		return r;
	req_query_flag(req, inv, "force");
	return req_done(req);
}

static int h_volume_extend(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_action(req, "/v1/volumes", inv->args[0], "extend");

	if (r < 0)
		return r;
	return json_add_uint(req->body, "size", inv->arg_num[1]);
}

static int h_volume_flatten(const struct cli_invocation *inv, struct cli_request *req,
                            struct cairn_err *err)
{
	return req_action(req, "/v1/volumes", inv->args[0], "flatten");
}

static int h_volume_revert(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_action(req, "/v1/volumes", inv->args[0], "revert");

	if (r < 0)
		return r;
	return json_add_string(req->body, "snapshot", inv->args[1]);
}

static int h_volume_rename(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_action(req, "/v1/volumes", inv->args[0], "rename");

	if (r < 0)
		return r;
	return json_add_string(req->body, "name", inv->args[1]);
}

static int h_volume_xml(const struct cli_invocation *inv, struct cli_request *req,
                        struct cairn_err *err)
{
	int r = req_start(req, "GET", "/v1/volumes");

	if (r < 0)
		return r;
	req_segment(req, inv->args[0]);
	cli_buf_puts(&req->path, "/xml");
	req_query_opt(req, inv, "target", "target");
	req_query_opt(req, inv, "bus", "bus");
	return req_done(req);
}

/* attach and detach: {"domain", "target"?, "live"?, "config"?, "uri"?} */
static int body_disk_opts(struct cli_request *req, const struct cli_invocation *inv)
{
	if (json_add_string(req->body, "domain", inv->args[1]) < 0 ||
	    body_string_opt(req, inv, "target", "target") < 0 ||
	    body_flag_opt(req, inv, "live", "live") < 0 ||
	    body_flag_opt(req, inv, "config", "config") < 0 ||
	    body_string_opt(req, inv, "uri", "uri") < 0)
		return -ENOMEM;
	return 0;
}

static int h_volume_attach(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_action(req, "/v1/volumes", inv->args[0], "attach");

	if (r < 0)
		return r;
	return body_disk_opts(req, inv);
}

static int h_volume_detach(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_action(req, "/v1/volumes", inv->args[0], "detach");

	if (r < 0)
		return r;
	return body_disk_opts(req, inv);
}

/* GET /v1/volumes/NAME/domain-xml: --volume (repeated) becomes volumes=a,b */
static int h_volume_domain_xml(const struct cli_invocation *inv, struct cli_request *req,
                               struct cairn_err *err)
{
	const struct cli_value *vols = cli_opt(inv, "volume");
	int r = req_start(req, "GET", "/v1/volumes");

	if (r < 0)
		return r;
	req_segment(req, inv->args[0]);
	cli_buf_puts(&req->path, "/domain-xml");
	req_query_opt(req, inv, "name", "name");
	req_query_opt(req, inv, "memory", "memory");
	req_query_opt(req, inv, "vcpus", "vcpus");
	req_query_opt(req, inv, "type", "type");
	req_query_opt(req, inv, "target", "target");
	req_query_opt(req, inv, "bus", "bus");
	if (vols->set) {
		cli_buf_putc(&req->path, strchr(cli_buf_str(&req->path), '?') ? '&' : '?');
		cli_buf_puts(&req->path, "volumes=");
		for (size_t i = 0; i < vols->n_items; i++) {
			if (i > 0)
				cli_buf_putc(&req->path, ',');
			cli_buf_put_encoded(&req->path, vols->items[i]);
		}
	}
	req_query_opt(req, inv, "network", "network");
	req_query_opt(req, inv, "console-log", "console_log");
	return req_done(req);
}

static int h_volume_manage(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_start(req, "POST", "/v1/volumes/manage");

	if (r < 0)
		return r;
	if (json_add_string(req->body, "name", inv->args[0]) < 0 ||
	    body_string_opt(req, inv, "pool", "pool") < 0 ||
	    body_string_opt(req, inv, "rbd-image", "rbd_image") < 0)
		return -ENOMEM;
	return 0;
}

static int h_volume_unmanage(const struct cli_invocation *inv, struct cli_request *req,
                             struct cairn_err *err)
{
	return req_action(req, "/v1/volumes", inv->args[0], "unmanage");
}

/* PATCH /v1/volumes/NAME: labels (all of them, replaced) and/or QoS limits */
static int h_volume_update(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	const struct cli_value *labels = cli_opt(inv, "label"), *clear = cli_opt(inv, "no-labels");
	int r;

	if (!labels->set && !clear->set && !qos_given(inv))
		return err_set(err, -EINVAL,
		               "nothing to change: give --label, --no-labels or a --qos-* limit");
	if (labels->set && clear->set)
		return err_set(err, -EINVAL, "give either --label or --no-labels");
	r = req_item(req, "PATCH", "/v1/volumes", inv->args[0]);
	if (r < 0)
		return r;
	req->body = json_object_new_object();
	if (!req->body || body_qos(req, inv) < 0)
		return -ENOMEM;
	if (clear->set)
		return json_add(req->body, "labels", json_object_new_object());
	return labels->set ? body_labels(req, labels, err) : 0;
}

/* snapshots */

static int h_snapshot_create(const struct cli_invocation *inv, struct cli_request *req,
                             struct cairn_err *err)
{
	int r = req_action(req, "/v1/volumes", inv->args[0], "snapshots");

	if (r < 0)
		return r;
	return json_add_string(req->body, "name", inv->args[1]);
}

static int h_snapshot_list(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_item(req, "GET", "/v1/volumes", inv->args[0]);

	if (r < 0)
		return r;
	cli_buf_puts(&req->path, "/snapshots");
	req_query_flag(req, inv, "hidden");
	return req_done(req);
}

static int h_snapshot_delete(const struct cli_invocation *inv, struct cli_request *req,
                             struct cairn_err *err)
{
	int r = req_item(req, "DELETE", "/v1/volumes", inv->args[0]);

	if (r < 0)
		return r;
	cli_buf_puts(&req->path, "/snapshots");
	req_segment(req, inv->args[1]);
	if (cli_opt(inv, "deferred")->set)
		req_query(req, "deferred", NULL);
	return req_done(req);
}

/* "volumes": the arguments from the first-th on, each once. */
static int body_volumes(struct cli_request *req, const struct cli_invocation *inv, size_t first,
                        struct cairn_err *err)
{
	struct json_object *vols = json_object_new_array();

	if (json_add(req->body, "volumes", vols) < 0)
		return -ENOMEM;
	for (size_t i = first; i < inv->n_args; i++) {
		for (size_t j = first; j < i; j++)
			if (strcmp(inv->args[i], inv->args[j]) == 0)
				return err_set(err, -EINVAL, "volume '%s' is given twice",
				               inv->args[i]);
		if (json_object_array_add(vols, json_object_new_string(inv->args[i])) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int h_snapshot_group(const struct cli_invocation *inv, struct cli_request *req,
                            struct cairn_err *err)
{
	int r = req_start(req, "POST", "/v1/snapshots/group");

	if (r < 0)
		return r;
	if (json_add_string(req->body, "name", inv->args[0]) < 0)
		return -ENOMEM;
	return body_volumes(req, inv, 1, err);
}

static int h_snapshot_group_list(const struct cli_invocation *inv, struct cli_request *req,
                                 struct cairn_err *err)
{
	return req_start(req, "GET", "/v1/snapshots/group");
}

static int h_snapshot_group_show(const struct cli_invocation *inv, struct cli_request *req,
                                 struct cairn_err *err)
{
	return req_item(req, "GET", "/v1/snapshots/group", inv->args[0]);
}

static int h_snapshot_group_delete(const struct cli_invocation *inv, struct cli_request *req,
                                   struct cairn_err *err)
{
	int r = req_item(req, "DELETE", "/v1/snapshots/group", inv->args[0]);

	if (r < 0)
		return r;
	req_segment(req, inv->args[1]);
	return req_done(req);
}

/* backups */

static int h_backup_create(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	int r = req_start(req, "POST", "/v1/backups");

	if (r < 0)
		return r;
	if (inv->n_args == 1) {
		if (json_add_string(req->body, "volume", inv->args[0]) < 0)
			return -ENOMEM;
	} else {
		/* the disks of one VM: one backup each, all at one point */
		r = body_volumes(req, inv, 0, err);
		if (r < 0)
			return r;
	}
	if (body_flag_opt(req, inv, "incremental", "incremental") < 0 ||
	    body_string_opt(req, inv, "target", "target") < 0 ||
	    body_string_opt(req, inv, "label", "label") < 0)
		return -ENOMEM;
	return 0;
}

static int h_backup_list(const struct cli_invocation *inv, struct cli_request *req,
                         struct cairn_err *err)
{
	int r = req_start(req, "GET", "/v1/backups");

	if (r < 0)
		return r;
	req_query_opt(req, inv, "volume", "volume");
	return req_done(req);
}

static int h_backup_show(const struct cli_invocation *inv, struct cli_request *req,
                         struct cairn_err *err)
{
	return req_item(req, "GET", "/v1/backups", inv->args[0]);
}

static int h_backup_delete(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	return req_item(req, "DELETE", "/v1/backups", inv->args[0]);
}

static int h_backup_restore(const struct cli_invocation *inv, struct cli_request *req,
                            struct cairn_err *err)
{
	const struct cli_value *to = cli_opt(inv, "to");
	bool original = cli_opt(inv, "original")->set;
	int r;

	if (to->set && original)
		return err_set(err, -EINVAL, "give either --to NAME or --original, not both");
	r = req_action(req, "/v1/backups", inv->args[0], "restore");
	if (r < 0)
		return r;
	if (to->set && json_add_string(req->body, "volume", to->str) < 0)
		return -ENOMEM;
	if (cli_opt(inv, "instant")->set && json_add_bool(req->body, "instant", true) < 0)
		return -ENOMEM;
	if (original && json_add_bool(req->body, "original", true) < 0)
		return -ENOMEM;
	if (cli_opt(inv, "readback")->set && json_add_string(req->body, "verify", "readback") < 0)
		return -ENOMEM;
	return 0;
}

static int h_backup_verify(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err)
{
	return req_action(req, "/v1/backups", inv->args[0], "verify");
}

/* operations */

static int h_op_list(const struct cli_invocation *inv, struct cli_request *req,
                     struct cairn_err *err)
{
	int r = req_start(req, "GET", "/v1/operations");

	if (r < 0)
		return r;
	req_query_opt(req, inv, "status", "status");
	req_query_opt(req, inv, "kind", "kind");
	return req_done(req);
}

static int h_op_show(const struct cli_invocation *inv, struct cli_request *req,
                     struct cairn_err *err)
{
	return req_item(req, "GET", "/v1/operations", inv->args[0]);
}

static int h_op_cancel(const struct cli_invocation *inv, struct cli_request *req,
                       struct cairn_err *err)
{
	return req_item(req, "DELETE", "/v1/operations", inv->args[0]);
}

/* ---- parameters -------------------------------------------------------------------------- */

#define END_PARAMS                           \
	{                                    \
		NULL, 0, 0, NULL, NULL, NULL \
	}

static const struct cli_param no_params[] = {END_PARAMS};

static const struct cli_param p_image_name[] = {
        {"NAME", CLI_T_NAME, 0, "image", NULL, "the image's name"},
        END_PARAMS,
};
static const struct cli_param p_image_import[] = {
        {"NAME", CLI_T_NAME, 0, "image", NULL, "the new image's name"},
        {"FILE", CLI_T_STRING, 0, NULL, NULL,
         "the disk file to import, on cairnd's host under its import directory"},
        END_PARAMS,
};
static const struct cli_param o_image_import[] = {
        {"format", CLI_T_CHOICE, 0, "qcow2|raw|vmdk", "F",
         "the file's format (default: detected by qemu-img)"},
        END_PARAMS,
};
static const struct cli_param o_image_delete[] = {
        {"deferred", CLI_T_FLAG, 0, NULL, NULL,
         "while clones exist, hide the image and remove it when the last clone goes"},
        END_PARAMS,
};

/* the --qos-* options of qos_opts; NOTE is appended to each help line */
#define QOS_PARAMS(note)                                                                         \
	{"qos-iops", CLI_T_UINT, 0, NULL, "N", "limit I/O operations per second" note},          \
	        {"qos-read-iops", CLI_T_UINT, 0, NULL, "N", "limit reads per second" note},      \
	        {"qos-write-iops", CLI_T_UINT, 0, NULL, "N", "limit writes per second" note},    \
	        {"qos-bps", CLI_T_RATE, 0,                                                       \
	         NULL,      "N",        "limit bytes per second (100M is 100 MiB/s)" note},      \
	        {"qos-read-bps", CLI_T_RATE, 0, NULL, "N", "limit bytes read per second" note},  \
	{                                                                                        \
		"qos-write-bps", CLI_T_RATE, 0, NULL, "N", "limit bytes written per second" note \
	}

static const struct cli_param p_volume_name[] = {
        {"NAME", CLI_T_NAME, 0, "volume", NULL, "the volume's name"},
        END_PARAMS,
};
static const struct cli_param o_volume_create[] = {
        {"size", CLI_T_SIZE, 0, NULL, "SIZE",
         "size: 10G, 512M or bytes (needed for a blank volume; a clone may grow)"},
        {"image", CLI_T_NAME, 0, "image", "I", "clone the image I"},
        {"snapshot", CLI_T_SNAPSPEC, 0, NULL, "VOL@SNAP", "clone snapshot SNAP of volume VOL"},
        {"volume", CLI_T_NAME, 0, "volume", "V", "clone the volume V"},
        {"pool", CLI_T_NAME, 0, "pool", "P", "the pool to create it in (volumes or vms)"},
        {"label", CLI_T_LABEL, CLI_P_REPEAT, NULL, "K=V", "set a label; may be repeated"},
        QOS_PARAMS(""),
        END_PARAMS,
};
static const struct cli_param o_volume_update[] = {
        {"label", CLI_T_LABEL, CLI_P_REPEAT, NULL, "K=V",
         "the labels, all of them (replaces the old ones); may be repeated"},
        {"no-labels", CLI_T_FLAG, 0, NULL, NULL, "remove every label"},
        QOS_PARAMS(" (0: no limit)"),
        END_PARAMS,
};
/* --hidden of the lists: what is deleted but kept for its clones, and cairn's own snapshots */
#define HIDDEN_PARAM                                                                            \
	{                                                                                       \
		"hidden", CLI_T_FLAG, 0, NULL, NULL,                                            \
		        "also the hidden ones (deleted but kept for their clones; cairn's own)" \
	}

static const struct cli_param o_volume_list[] = {
        {"pool", CLI_T_NAME, 0, "pool", "P", "only volumes in pool P"},
        {"label", CLI_T_LABEL, 0, NULL, "K=V", "only volumes with label K set to V"},
        {"parent", CLI_T_STRING, 0, NULL, "X", "only clones of X (an image, volume or VOL@SNAP)"},
        HIDDEN_PARAM,
        END_PARAMS,
};
static const struct cli_param o_list_hidden[] = {
        HIDDEN_PARAM,
        END_PARAMS,
};
static const struct cli_param o_volume_delete[] = {
        {"force", CLI_T_FLAG, 0, NULL, NULL, "delete its snapshots with it"},
        END_PARAMS,
};
static const struct cli_param p_volume_extend[] = {
        {"NAME", CLI_T_NAME, 0, "volume", NULL, "the volume's name"},
        {"SIZE", CLI_T_SIZE, 0, NULL, NULL, "the new size (grow only): 20G, 512M or bytes"},
        END_PARAMS,
};
static const struct cli_param p_volume_revert[] = {
        {"NAME", CLI_T_NAME, 0, "volume", NULL, "the volume's name"},
        {"SNAP", CLI_T_NAME, 0, "snapshot", NULL, "the snapshot to go back to"},
        END_PARAMS,
};
static const struct cli_param p_volume_rename[] = {
        {"NAME", CLI_T_NAME, 0, "volume", NULL, "the volume's name"},
        {"NEW", CLI_T_NAME, 0, "volume", NULL, "its new name"},
        END_PARAMS,
};
static const struct cli_param o_volume_xml[] = {
        {"target", CLI_T_STRING, 0, NULL, "DEV", "the guest device name (default vda)"},
        {"bus", CLI_T_STRING, 0, NULL, "BUS", "the disk bus (default virtio)"},
        END_PARAMS,
};
static const struct cli_param p_volume_domain[] = {
        {"NAME", CLI_T_NAME, 0, "volume", NULL, "the volume's name"},
        {"DOMAIN", CLI_T_STRING, 0, NULL, NULL, "the libvirt domain"},
        END_PARAMS,
};
static const struct cli_param o_volume_attach[] = {
        {"target", CLI_T_STRING, 0, NULL, "DEV", "the guest device name (default: next free)"},
        {"live", CLI_T_FLAG, 0, NULL, NULL, "attach to the running domain"},
        {"config", CLI_T_FLAG, 0, NULL, NULL, "attach in the persistent definition"},
        {"uri", CLI_T_STRING, 0, NULL, "URI", "the libvirt connection (default qemu:///system)"},
        END_PARAMS,
};
static const struct cli_param o_volume_detach[] = {
        {"target", CLI_T_STRING, 0, NULL, "DEV",
         "only when the volume is this guest device (default: wherever it is)"},
        {"live", CLI_T_FLAG, 0, NULL, NULL, "unplug it from the running domain"},
        {"config", CLI_T_FLAG, 0, NULL, NULL, "remove it from the persistent definition"},
        {"uri", CLI_T_STRING, 0, NULL, "URI", "the libvirt connection (default qemu:///system)"},
        END_PARAMS,
};
static const struct cli_param o_volume_domain_xml[] = {
        {"name", CLI_T_NAME, 0, "domain", "VM", "the domain's name (default: the volume's)"},
        {"memory", CLI_T_UINT, 0, NULL, "MIB", "memory in MiB (default 512)"},
        {"vcpus", CLI_T_UINT, 0, NULL, "N", "virtual CPUs (default 1)"},
        {"type", CLI_T_CHOICE, 0, "kvm|qemu", "T", "the accelerator (default kvm; qemu: TCG)"},
        {"target", CLI_T_STRING, 0, NULL, "DEV", "the boot disk's guest device (default vda)"},
        {"bus", CLI_T_STRING, 0, NULL, "BUS", "the disks' bus (default virtio)"},
        {"volume", CLI_T_NAME, CLI_P_REPEAT, "volume", "V",
         "one more disk after the boot volume, at the next free device; may be repeated"},
        {"network", CLI_T_NAME, 0, "network", "N", "a virtio NIC on libvirt network N"},
        {"console-log", CLI_T_STRING, 0, NULL, "FILE", "log the serial console to FILE"},
        END_PARAMS,
};
static const struct cli_param o_volume_manage[] = {
        {"pool", CLI_T_NAME, CLI_P_REQUIRED, "pool", "P", "the pool the RBD image is in"},
        {"rbd-image", CLI_T_STRING, CLI_P_REQUIRED, NULL, "IMG", "the RBD image to adopt"},
        END_PARAMS,
};

static const struct cli_param p_snapshot_volume[] = {
        {"VOLUME", CLI_T_NAME, 0, "volume", NULL, "the volume's name"},
        END_PARAMS,
};
static const struct cli_param p_snapshot[] = {
        {"VOLUME", CLI_T_NAME, 0, "volume", NULL, "the volume's name"},
        {"SNAP", CLI_T_NAME, 0, "snapshot", NULL, "the snapshot's name"},
        END_PARAMS,
};
static const struct cli_param o_snapshot_delete[] = {
        {"deferred", CLI_T_FLAG, 0, NULL, NULL,
         "while clones exist, hide the snapshot and remove it when the last clone goes"},
        END_PARAMS,
};
static const struct cli_param p_snapshot_group[] = {
        {"NAME", CLI_T_NAME, 0, "snapshot", NULL, "the snapshot's name on every volume"},
        {"VOL", CLI_T_NAME, CLI_P_MORE, "volume", NULL, "the volumes, one or more"},
        END_PARAMS,
};
static const struct cli_param p_group[] = {
        {"GROUP", CLI_T_NAME, 0, "group", NULL,
         "the group's name (cairn-..., as 'group-list' shows)"},
        END_PARAMS,
};
static const struct cli_param p_group_snap[] = {
        {"GROUP", CLI_T_NAME, 0, "group", NULL,
         "the group's name (cairn-..., as 'group-list' shows)"},
        {"SNAP", CLI_T_NAME, 0, "snapshot", NULL, "the group snapshot's name"},
        END_PARAMS,
};

static const struct cli_param p_backup_create[] = {
        {"VOLUME", CLI_T_NAME, CLI_P_MORE, "volume", NULL,
         "the volume to back up; several: the disks of one VM, backed up at one consistent "
         "point"},
        END_PARAMS,
};
static const struct cli_param o_backup_create[] = {
        {"incremental", CLI_T_FLAG, 0, NULL, NULL, "only what changed since the last backup"},
        {"target", CLI_T_CHOICE, 0, "pool|file", "T",
         "into the backup pool or an export-diff file (default pool)"},
        {"label", CLI_T_STRING, 0, NULL, "L", "a free text label kept with the backup"},
        END_PARAMS,
};
static const struct cli_param o_backup_list[] = {
        {"volume", CLI_T_NAME, 0, "volume", "V", "only backups of volume V"},
        END_PARAMS,
};
static const struct cli_param p_backup_id[] = {
        {"ID", CLI_T_ID, 0, NULL, NULL, "the backup's id"},
        END_PARAMS,
};
static const struct cli_param o_backup_restore[] = {
        {"to", CLI_T_NAME, 0, "volume", "NAME", "restore into a new volume NAME"},
        {"original", CLI_T_FLAG, 0, NULL, NULL, "restore over the original volume"},
        {"instant", CLI_T_FLAG, 0, NULL, NULL,
         "a copy-on-write clone of the backup in the pool, at once (flatten it later)"},
        {"readback", CLI_T_FLAG, 0, NULL, NULL,
         "check the restored volume read back from the cluster (slower)"},
        END_PARAMS,
};

static const struct cli_param p_op_id[] = {
        {"ID", CLI_T_ID, 0, NULL, NULL, "the operation's id"},
        END_PARAMS,
};
static const struct cli_param o_op_list[] = {
        {"status", CLI_T_CHOICE, 0, "queued|running|succeeded|failed|canceled", "S",
         "only operations with status S"},
        {"kind", CLI_T_STRING, 0, NULL, "K", "only operations of kind K (image.import...)"},
        END_PARAMS,
};
static const struct cli_param o_op_wait[] = {
        {"timeout", CLI_T_UINT, 0, NULL, "S", "give up after S seconds (default: wait)"},
        END_PARAMS,
};

static const struct cli_param o_secret_ensure[] = {
        {"uri", CLI_T_STRING, 0, NULL, "URI", "the libvirt connection (default: cairnd's)"},
        END_PARAMS,
};

/* ---- views ----------------------------------------------------------------------------- */

static const struct cli_view v_none = {CLI_VIEW_NONE, NULL, NULL};
static const struct cli_view v_show = {CLI_VIEW_SHOW, NULL, NULL};
static const struct cli_view v_raw = {CLI_VIEW_RAW, NULL, NULL};

static const struct cli_column c_pools[] = {
        {"ROLE", "role", CLI_FMT_AUTO},
        {"NAME", "name", CLI_FMT_AUTO},
        {"STORED", "stored", CLI_FMT_SIZE},
        {"USED", "used", CLI_FMT_SIZE},
        {"AVAILABLE", "available", CLI_FMT_SIZE},
        {"QUOTA", "quota", CLI_FMT_SIZE},
        {"OBJECTS", "objects", CLI_FMT_AUTO},
        {"IMAGES", "images", CLI_FMT_COUNT},
        {NULL, NULL, 0},
};
static const struct cli_view v_pools = {CLI_VIEW_TABLE, "pools", c_pools};

static const struct cli_column c_images[] = {
        {"NAME", "name", CLI_FMT_AUTO},
        {"SIZE", "size", CLI_FMT_SIZE},
        {"FORMAT", "format", CLI_FMT_AUTO},
        {"STATUS", "status", CLI_FMT_AUTO},
        {"CLONES", "clones", CLI_FMT_COUNT},
        {"CREATED", "created", CLI_FMT_AUTO},
        {NULL, NULL, 0},
};
static const struct cli_view v_images = {CLI_VIEW_TABLE, "images", c_images};

static const struct cli_column c_volumes[] = {
        {"NAME", "name", CLI_FMT_AUTO},
        {"POOL", "pool", CLI_FMT_AUTO},
        {"SIZE", "size", CLI_FMT_SIZE},
        {"STATUS", "status", CLI_FMT_AUTO},
        {"PARENT", "parent", CLI_FMT_AUTO},
        {"LABELS", "labels", CLI_FMT_LABELS},
        {NULL, NULL, 0},
};
static const struct cli_view v_volumes = {CLI_VIEW_TABLE, "volumes", c_volumes};

static const struct cli_column c_snapshots[] = {
        {"NAME", "name", CLI_FMT_AUTO},           {"SIZE", "size", CLI_FMT_SIZE},
        {"PROTECTED", "protected", CLI_FMT_AUTO}, {"CLONES", "children", CLI_FMT_COUNT},
        {"CREATED", "created", CLI_FMT_AUTO},     {NULL, NULL, 0},
};
static const struct cli_view v_snapshots = {CLI_VIEW_TABLE, "snapshots", c_snapshots};

static const struct cli_column c_groups[] = {
        {"GROUP", "name", CLI_FMT_AUTO},
        {"SNAPSHOTS", "snapshots", CLI_FMT_AUTO},
        {"VOLUMES", "volumes", CLI_FMT_AUTO},
        {NULL, NULL, 0},
};
static const struct cli_view v_groups = {CLI_VIEW_TABLE, "groups", c_groups};

static const struct cli_column c_backups[] = {
        {"ID", "id", CLI_FMT_AUTO},
        {"VOLUME", "volume", CLI_FMT_AUTO},
        {"INCREMENTAL", "incremental", CLI_FMT_AUTO},
        {"TARGET", "target", CLI_FMT_AUTO},
        {"SIZE", "size", CLI_FMT_SIZE},
        {"STATUS", "status", CLI_FMT_AUTO},
        {"LABEL", "label", CLI_FMT_AUTO},
        {"CREATED", "created", CLI_FMT_AUTO},
        {NULL, NULL, 0},
};
static const struct cli_view v_backups = {CLI_VIEW_TABLE, "backups", c_backups};

static const struct cli_column c_ops[] = {
        {"ID", "id", CLI_FMT_AUTO},
        {"KIND", "kind", CLI_FMT_AUTO},
        {"STATUS", "status", CLI_FMT_AUTO},
        {"PROGRESS", "progress", CLI_FMT_PERCENT},
        {"RESOURCE", "resource", CLI_FMT_AUTO},
        {"UPDATED", "updated", CLI_FMT_AUTO},
        {NULL, NULL, 0},
};
static const struct cli_view v_ops = {CLI_VIEW_TABLE, "operations", c_ops};

/* ---- the table, sorted by noun then verb ---------------------------------------------- */

#define MUT CLI_CMD_MUTATING

static const struct cli_command cli_table[] = {
        {"backup", "create", h_backup_create, p_backup_create, o_backup_create, MUT, &v_show,
         "VOLUME... [--incremental] [--target pool|file] [--label L]",
         "back up a volume, or a VM's volumes at one point", NULL},
        {"backup", "delete", h_backup_delete, p_backup_id, no_params, MUT, &v_none, "ID",
         "delete a backup", "deleted backup '{0}'"},
        {"backup", "list", h_backup_list, no_params, o_backup_list, 0, &v_backups, "[--volume V]",
         "list backups", NULL},
        {"backup", "restore", h_backup_restore, p_backup_id, o_backup_restore, MUT, &v_show,
         "ID [--to NAME [--instant] | --original] [--readback]",
         "restore a backup to a new or the original volume", "restored backup '{0}'"},
        {"backup", "show", h_backup_show, p_backup_id, no_params, 0, &v_show, "ID", "show a backup",
         NULL},
        {"backup", "verify", h_backup_verify, p_backup_id, no_params, MUT, &v_show, "ID",
         "check a backup against its checksums", "backup '{0}' verified"},
        {"events", "", h_events, no_params, no_params, CLI_CMD_STREAM, &v_none, "",
         "print events as JSON lines as they happen", NULL},
        {"health", "", h_health, no_params, no_params, CLI_CMD_STATUS_OK, &v_show, "",
         "check that cairnd and the cluster are ready", NULL},
        {"image", "delete", h_image_delete, p_image_name, o_image_delete, MUT, &v_none,
         "NAME [--deferred]", "delete an image", "deleted image '{0}'"},
        {"image", "import", h_image_import, p_image_import, o_image_import, MUT, &v_show,
         "NAME FILE [--format F]", "import a disk file as a golden image", NULL},
        {"image", "list", h_image_list, no_params, o_list_hidden, 0, &v_images, "[--hidden]",
         "list images", NULL},
        {"image", "show", h_image_show, p_image_name, no_params, 0, &v_show, "NAME",
         "show an image", NULL},
        {"op", "cancel", h_op_cancel, p_op_id, no_params, MUT | CLI_CMD_NO_FOLLOW, &v_none, "ID",
         "cancel a running operation", "cancel requested for operation '{0}'"},
        {"op", "list", h_op_list, no_params, o_op_list, 0, &v_ops, "[--status S] [--kind K]",
         "list operations", NULL},
        {"op", "show", h_op_show, p_op_id, no_params, 0, &v_show, "ID", "show an operation", NULL},
        {"op", "wait", h_op_show, p_op_id, o_op_wait, CLI_CMD_FOLLOW, &v_show, "ID [--timeout S]",
         "wait for an operation to end, showing its progress", "operation '{0}' succeeded"},
        {"pool", "init", h_pool_init, no_params, no_params, MUT, &v_pools, "",
         "create and initialise the configured pools", NULL},
        {"pool", "list", h_pool_list, no_params, no_params, 0, &v_pools, "",
         "list pools with their usage", NULL},
        {"secret", "ensure", h_secret_ensure, no_params, o_secret_ensure, MUT, &v_show,
         "[--uri URI]", "make sure libvirt has the cephx secret cairn's disks name", NULL},
        {"snapshot", "create", h_snapshot_create, p_snapshot, no_params, MUT, &v_show,
         "VOLUME SNAP", "snapshot a volume", NULL},
        {"snapshot", "delete", h_snapshot_delete, p_snapshot, o_snapshot_delete, MUT, &v_none,
         "VOLUME SNAP [--deferred]", "delete a snapshot", "deleted snapshot '{0}@{1}'"},
        {"snapshot", "group", h_snapshot_group, p_snapshot_group, no_params, MUT, &v_show,
         "NAME VOL...", "snapshot several volumes at one consistent point", NULL},
        {"snapshot", "group-delete", h_snapshot_group_delete, p_group_snap, no_params, MUT, &v_none,
         "GROUP SNAP", "delete a group snapshot (and its group, with its last snapshot)",
         "deleted group snapshot '{0}@{1}'"},
        {"snapshot", "group-list", h_snapshot_group_list, no_params, no_params, 0, &v_groups, "",
         "list group snapshots by group, with each group's volumes", NULL},
        {"snapshot", "group-show", h_snapshot_group_show, p_group, no_params, 0, &v_show, "GROUP",
         "show a group's snapshots and volumes", NULL},
        {"snapshot", "list", h_snapshot_list, p_snapshot_volume, o_list_hidden, 0, &v_snapshots,
         "VOLUME [--hidden]", "list a volume's snapshots", NULL},
        {"volume", "attach", h_volume_attach, p_volume_domain, o_volume_attach, MUT, &v_none,
         "NAME DOMAIN [--target vdb] [--live] [--config] [--uri URI]",
         "hot-plug a volume into a domain", "attached volume '{0}' to '{1}'"},
        {"volume", "create", h_volume_create, p_volume_name, o_volume_create, MUT, &v_show,
         "NAME [--size 10G] [--image I | --snapshot VOL@SNAP | --volume V] [--pool P] "
         "[--label K=V]... [--qos-iops N] [--qos-read-iops N] [--qos-write-iops N] [--qos-bps N] "
         "[--qos-read-bps N] [--qos-write-bps N]",
         "create a volume: blank, or a clone of an image, a snapshot or a volume", NULL},
        {"volume", "delete", h_volume_delete, p_volume_name, o_volume_delete, MUT, &v_none,
         "NAME [--force]", "delete a volume (to the trash, purged in the background)",
         "deleted volume '{0}'"},
        {"volume", "detach", h_volume_detach, p_volume_domain, o_volume_detach, MUT, &v_none,
         "NAME DOMAIN [--target vdb] [--live] [--config] [--uri URI]",
         "unplug a volume from a domain (the disk whose source is the volume)",
         "detached volume '{0}' from '{1}'"},
        {"volume", "domain-xml", h_volume_domain_xml, p_volume_name, o_volume_domain_xml, 0, &v_raw,
         "NAME [--name VM] [--memory MIB] [--vcpus N] [--type kvm|qemu] [--target vda] "
         "[--bus virtio] [--volume V]... [--network N] [--console-log FILE]",
         "print a libvirt domain that boots from the volume, with more disks and a NIC", NULL},
        {"volume", "extend", h_volume_extend, p_volume_extend, no_params, MUT, &v_show, "NAME SIZE",
         "grow a volume", "extended volume '{0}'"},
        {"volume", "flatten", h_volume_flatten, p_volume_name, no_params, MUT, &v_show, "NAME",
         "copy a clone's data so it no longer needs its parent", "flattened volume '{0}'"},
        {"volume", "list", h_volume_list, no_params, o_volume_list, 0, &v_volumes,
         "[--pool P] [--label K=V] [--parent X] [--hidden]", "list volumes", NULL},
        {"volume", "manage", h_volume_manage, p_volume_name, o_volume_manage, MUT, &v_show,
         "NAME --pool P --rbd-image IMG", "adopt an existing RBD image as a volume", NULL},
        {"volume", "rename", h_volume_rename, p_volume_rename, no_params, MUT, &v_show, "NAME NEW",
         "rename a volume", "renamed volume '{0}' to '{1}'"},
        {"volume", "revert", h_volume_revert, p_volume_revert, no_params, MUT, &v_show, "NAME SNAP",
         "roll a volume back to a snapshot", "reverted volume '{0}' to '{1}'"},
        {"volume", "show", h_volume_show, p_volume_name, no_params, 0, &v_show, "NAME",
         "show a volume with its snapshots, children and parents", NULL},
        {"volume", "unmanage", h_volume_unmanage, p_volume_name, no_params, MUT, &v_none, "NAME",
         "release a volume's RBD image without deleting it", "released volume '{0}'"},
        {"volume", "update", h_volume_update, p_volume_name, o_volume_update, MUT, &v_show,
         "NAME [--label K=V]... [--no-labels] [--qos-iops N] [--qos-read-iops N] [--qos-write-iops "
         "N] [--qos-bps N] [--qos-read-bps N] [--qos-write-bps N]",
         "replace a volume's labels and/or QoS limits (0 removes a limit)", NULL},
        {"volume", "xml", h_volume_xml, p_volume_name, o_volume_xml, 0, &v_raw,
         "NAME [--target vda] [--bus virtio]", "print the libvirt <disk> XML of a volume", NULL},
};

const struct cli_command *cli_commands(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(cli_table);
	return cli_table;
}

int cli_command_cmp(const struct cli_command *a, const struct cli_command *b)
{
	int c = strcmp(a->noun, b->noun);

	return c ? c : strcmp(a->verb, b->verb);
}

static int cli_command_cmp_void(const void *a, const void *b)
{
	return cli_command_cmp(a, b);
}

static int cli_noun_cmp_void(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cli_command *)elem)->noun);
}

const struct cli_command *cli_command_find(const char *noun, const char *verb)
{
	struct cli_command key = {.noun = noun, .verb = verb};

	return bsearch(&key, cli_table, ARRAY_SIZE(cli_table), sizeof(cli_table[0]),
	               cli_command_cmp_void);
}

bool cli_noun_exists(const char *noun)
{
	return bsearch(noun, cli_table, ARRAY_SIZE(cli_table), sizeof(cli_table[0]),
	               cli_noun_cmp_void) != NULL;
}

const struct cli_command *cli_command_single(const char *noun)
{
	return cli_command_find(noun, "");
}
