/* SPDX-License-Identifier: MIT */
/*
 * pools/state.c against the real cluster: directory records and intents, their guards,
 * a race of eight daemons for one name, and a listing of 10,000 records. What the API
 * says is checked against what Ceph holds (rados listomapkeys).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/json.h"
#include "tests/integration/itest.h"

struct fixture {
	struct cairn_config conf;
	struct cluster *c;
	char prefix[32];
};

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* pools of our own: our records never mix with other tests' */
	itest_unique_name(f->prefix, sizeof(f->prefix), "tstate");
	f->c = itest_cluster(&f->conf, f->prefix);
	*state = f;
	return 0;
}

/* The pools this binary made are removed at the end, so runs do not pile up PGs. */
static void pools_remove(const struct cairn_config *conf)
{
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		const char *pool = conf_pool_name(conf, (enum pool_role)role);
		const char *argv[] = {"ceph", "-c",   itest_ceph_conf(),
		                      "osd",  "pool", "rm",
		                      pool,   pool,   "--yes-i-really-really-mean-it",
		                      NULL};
		assert_int_equal(itest_run(NULL, argv), 0);
	}
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	cluster_free(f->c);
	pools_remove(&f->conf);
	conf_release(&f->conf);
	free(f);
	return 0;
}

/* The omap keys of a directory object as Ceph holds them, one per line. */
static char *omap_keys(struct fixture *f, enum dir_kind k)
{
	char oid[64], *out = NULL;

	snprintf(oid, sizeof(oid), "directory.%s", dir_kind_to_string(k));
	const char *argv[] = {
	        "rados",       "-c",    itest_ceph_conf(), "-p", f->conf.pools.volumes,
	        "--namespace", "cairn", "listomapkeys",    oid,  NULL};
	assert_int_equal(itest_run(&out, argv), 0);
	return out;
}

/* How many lines of text are exactly line. */
static int count_lines(const char *text, const char *line)
{
	size_t len = strlen(line);
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == len && memcmp(p, line, len) == 0)
			n++;
		p += l + (nl ? 1 : 0);
	}
	return n;
}

static int count_prefix(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		if (strncmp(p, prefix, len) == 0)
			n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* ---- round trips -------------------------------------------------------------------------- */

static void test_dir_round_trip(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	char name[32], name2[32], id[UUID_STR_LEN], got[128], line[128], *rec = NULL, *keys;

	itest_unique_name(name, sizeof(name), "web");
	itest_unique_name(name2, sizeof(name2), "db");
	assert_int_equal(uuid_generate_str(id), 0);

	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, name, id, "{\"v\":1}", &err), 0);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name, got, sizeof(got), &err), 0);
	assert_string_equal(got, id);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id, &rec, &err), 0);
	assert_string_equal(rec, "{\"v\":1}");
	free(rec);

	/* update without and with an expectation */
	assert_int_equal(dir_update(f->c, DIR_VOLUMES, id, NULL, "{\"v\":2}", &err), 0);
	assert_int_equal(dir_update(f->c, DIR_VOLUMES, id, "{\"v\":2}", "{\"v\":3}", &err), 0);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id, &rec, &err), 0);
	assert_string_equal(rec, "{\"v\":3}");
	free(rec);

	/* rename: the old name is gone, the new one maps to the id, the record is new */
	assert_int_equal(dir_rename(f->c, DIR_VOLUMES, id, name, name2, "{\"v\":4}", &err), 0);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name, got, sizeof(got), &err), -ENOENT);
	assert_non_null(strstr(err.msg, name));
	err_clear(&err);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name2, got, sizeof(got), &err), 0);
	assert_string_equal(got, id);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id, &rec, &err), 0);
	assert_string_equal(rec, "{\"v\":4}");
	free(rec);

	/* the truth in Ceph */
	keys = omap_keys(f, DIR_VOLUMES);
	snprintf(line, sizeof(line), "name.%s", name);
	assert_int_equal(count_lines(keys, line), 0);
	snprintf(line, sizeof(line), "name.%s", name2);
	assert_int_equal(count_lines(keys, line), 1);
	snprintf(line, sizeof(line), "id.%s", id);
	assert_int_equal(count_lines(keys, line), 1);
	free(keys);

	/* a buffer too small for the id */
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name2, got, 8, &err), -ERANGE);
	err_clear(&err);

	/* remove; removing again is not an error */
	assert_int_equal(dir_remove(f->c, DIR_VOLUMES, name2, id, &err), 0);
	assert_int_equal(dir_remove(f->c, DIR_VOLUMES, name2, id, &err), 0);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name2, got, sizeof(got), &err), -ENOENT);
	err_clear(&err);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id, &rec, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "not found"));
	err_clear(&err);
	keys = omap_keys(f, DIR_VOLUMES);
	snprintf(line, sizeof(line), "name.%s", name2);
	assert_int_equal(count_lines(keys, line), 0);
	snprintf(line, sizeof(line), "id.%s", id);
	assert_int_equal(count_lines(keys, line), 0);
	free(keys);

	/* an unknown id cannot be updated or renamed */
	assert_int_equal(dir_update(f->c, DIR_VOLUMES, id, NULL, "{}", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "not found"));
	err_clear(&err);
	assert_int_equal(dir_rename(f->c, DIR_VOLUMES, id, name2, name, "{}", &err), -ENOENT);
	err_clear(&err);
	/* in a directory that does not exist yet either */
	assert_int_equal(dir_update(f->c, DIR_BACKUPS, id, NULL, "{}", &err), -ENOENT);
	err_clear(&err);
	assert_int_equal(dir_get(f->c, DIR_BACKUPS, id, &rec, &err), -ENOENT);
	err_clear(&err);
	assert_int_equal(dir_remove(f->c, DIR_BACKUPS, "x", id, &err), 0);
}

static void test_dir_insert_existing(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	char name[32], other[32], id[UUID_STR_LEN], id2[UUID_STR_LEN], got[128], line[128];
	char *rec = NULL, *keys;

	itest_unique_name(name, sizeof(name), "dup");
	itest_unique_name(other, sizeof(other), "oth");
	assert_int_equal(uuid_generate_str(id), 0);
	assert_int_equal(uuid_generate_str(id2), 0);
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, name, id, "{\"first\":true}", &err), 0);

	/* the same name with another id */
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, name, id2, "{\"second\":true}", &err),
	                 -EEXIST);
	snprintf(line, sizeof(line), "volume '%s' already exists", name);
	assert_string_equal(err.msg, line);
	err_clear(&err);
	/* ... changed nothing */
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name, got, sizeof(got), &err), 0);
	assert_string_equal(got, id);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id, &rec, &err), 0);
	assert_string_equal(rec, "{\"first\":true}");
	free(rec);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id2, &rec, &err), -ENOENT);
	err_clear(&err);

	/* another name with the same id */
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, other, id, "{\"third\":true}", &err),
	                 -EEXIST);
	assert_non_null(strstr(err.msg, id));
	err_clear(&err);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, other, got, sizeof(got), &err), -ENOENT);
	err_clear(&err);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id, &rec, &err), 0);
	assert_string_equal(rec, "{\"first\":true}");
	free(rec);

	keys = omap_keys(f, DIR_VOLUMES);
	snprintf(line, sizeof(line), "name.%s", other);
	assert_int_equal(count_lines(keys, line), 0);
	snprintf(line, sizeof(line), "id.%s", id2);
	assert_int_equal(count_lines(keys, line), 0);
	free(keys);

	/* renaming onto a taken name */
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, other, id2, "{}", &err), 0);
	assert_int_equal(dir_rename(f->c, DIR_VOLUMES, id2, other, name, "{}", &err), -EEXIST);
	assert_non_null(strstr(err.msg, name));
	err_clear(&err);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, other, got, sizeof(got), &err), 0);
	assert_string_equal(got, id2);
	/* renaming from a name that is not the id's */
	assert_int_equal(dir_rename(f->c, DIR_VOLUMES, id2, name, "fresh-name", "{}", &err),
	                 -ENOENT);
	err_clear(&err);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name, got, sizeof(got), &err), 0);
	assert_string_equal(got, id);

	/* removing by a name that now belongs to another id leaves that name alone */
	assert_int_equal(dir_remove(f->c, DIR_VOLUMES, name, id2, &err), 0);
	assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name, got, sizeof(got), &err), 0);
	assert_string_equal(got, id);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id2, &rec, &err), -ENOENT);
	err_clear(&err);

	/* limits: empty and oversized records, empty names */
	char *big = malloc(64 * 1024 + 2);
	assert_non_null(big);
	memset(big, 'x', 64 * 1024 + 1);
	big[64 * 1024 + 1] = '\0';
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, "big", "big-id", big, &err), -EMSGSIZE);
	err_clear(&err);
	big[64 * 1024] = '\0'; /* exactly the limit */
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, "big", "big-id", big, &err), 0);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, "big-id", &rec, &err), 0);
	assert_int_equal(strlen(rec), 64 * 1024);
	free(rec);
	free(big);
	assert_int_equal(dir_remove(f->c, DIR_VOLUMES, "big", "big-id", &err), 0);
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, "e", "e-id", "", &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, "", "e-id", "{}", &err), -EINVAL);
	err_clear(&err);

	assert_int_equal(dir_remove(f->c, DIR_VOLUMES, name, id, &err), 0);
	assert_int_equal(dir_remove(f->c, DIR_VOLUMES, other, id2, &err), 0);
}

static void test_dir_update_stale_expect(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	char name[32], id[UUID_STR_LEN], *rec = NULL;

	itest_unique_name(name, sizeof(name), "stale");
	assert_int_equal(uuid_generate_str(id), 0);
	assert_int_equal(dir_insert(f->c, DIR_VOLUMES, name, id, "{\"gen\":1}", &err), 0);
	/* somebody else moves it on */
	assert_int_equal(dir_update(f->c, DIR_VOLUMES, id, "{\"gen\":1}", "{\"gen\":2}", &err), 0);
	/* our copy is stale */
	assert_int_equal(dir_update(f->c, DIR_VOLUMES, id, "{\"gen\":1}", "{\"gen\":99}", &err),
	                 -ECANCELED);
	assert_non_null(strstr(err.msg, "changed by somebody else"));
	err_clear(&err);
	assert_int_equal(dir_get(f->c, DIR_VOLUMES, id, &rec, &err), 0);
	assert_string_equal(rec, "{\"gen\":2}");
	free(rec);
	/* a stale rename (old name no longer maps to the id) changes nothing either */
	assert_int_equal(dir_rename(f->c, DIR_VOLUMES, "no-such-id", name, "renamed", "{}", &err),
	                 -ENOENT);
	err_clear(&err);
	assert_int_equal(dir_remove(f->c, DIR_VOLUMES, name, id, &err), 0);
}

/* ---- the race: 8 daemons insert the same name at once -------------------------------------- */

#define RACERS 8

struct racer {
	struct fixture *f;
	pthread_barrier_t *barrier;
	struct cluster *c;
	const char *name;
	char id[UUID_STR_LEN];
	int result;
	struct cairn_err err;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->barrier);
	r->result = dir_insert(r->c, DIR_VOLUMES, r->name, r->id, "{\"racer\":true}", &r->err);
	return NULL;
}

static void test_dir_insert_race(void **state)
{
	struct fixture *f = *state;
	struct racer racers[RACERS];
	pthread_t threads[RACERS];
	pthread_barrier_t barrier;
	char name[32], line[128], got[128], *keys;
	struct cairn_err err = {0};

	for (int round = 0; round < 5; round++) {
		int won = 0, lost = 0, winner = -1;

		itest_unique_name(name, sizeof(name), "race");
		memset(racers, 0, sizeof(racers));
		/* eight daemons: each its own connection to the cluster */
		for (int i = 0; i < RACERS; i++) {
			racers[i].f = f;
			racers[i].barrier = &barrier;
			racers[i].name = name;
			assert_int_equal(uuid_generate_str(racers[i].id), 0);
			assert_int_equal(cluster_connect(&f->conf, &racers[i].c, &err), 0);
			/* open the state io context before the start line */
			rados_ioctx_t io;
			assert_int_equal(cluster_state_ioctx(racers[i].c, &io, &err), 0);
		}
		pthread_barrier_init(&barrier, NULL, RACERS);
		for (int i = 0; i < RACERS; i++)
			assert_int_equal(pthread_create(&threads[i], NULL, racer_main, &racers[i]),
			                 0);
		for (int i = 0; i < RACERS; i++)
			pthread_join(threads[i], NULL);
		pthread_barrier_destroy(&barrier);

		for (int i = 0; i < RACERS; i++) {
			if (racers[i].result == 0) {
				won++;
				winner = i;
			} else if (racers[i].result == -EEXIST) {
				lost++;
				snprintf(line, sizeof(line), "volume '%s' already exists", name);
				assert_string_equal(racers[i].err.msg, line);
			} else {
				fprintf(stderr, "racer %d: %d %s\n", i, racers[i].result,
				        racers[i].err.msg);
			}
			cluster_free(racers[i].c);
		}
		assert_int_equal(won, 1);
		assert_int_equal(lost, RACERS - 1);

		/* the API agrees... */
		assert_int_equal(dir_lookup(f->c, DIR_VOLUMES, name, got, sizeof(got), &err), 0);
		assert_string_equal(got, racers[winner].id);
		/* ... and so does Ceph: one name key, one record, the winner's */
		keys = omap_keys(f, DIR_VOLUMES);
		snprintf(line, sizeof(line), "name.%s", name);
		assert_int_equal(count_lines(keys, line), 1);
		for (int i = 0; i < RACERS; i++) {
			snprintf(line, sizeof(line), "id.%s", racers[i].id);
			assert_int_equal(count_lines(keys, line), i == winner ? 1 : 0);
		}
		free(keys);
		assert_int_equal(dir_remove(f->c, DIR_VOLUMES, name, racers[winner].id, &err), 0);
	}
}

/* ---- listing 10,000 records ------------------------------------------------------------------ */

#define MANY  10000
#define BATCH 1000

struct collected {
	char (*ids)[UUID_STR_LEN];
	size_t n;
	size_t bad_records;
	int stop_after; /* < 0: never */
};

static int collect(const char *id, const char *record, void *userdata)
{
	struct collected *col = userdata;
	char want[128];

	if (col->stop_after >= 0 && col->n == (size_t)col->stop_after)
		return -EINTR;
	if (col->n < MANY && strlen(id) < UUID_STR_LEN)
		memcpy(col->ids[col->n], id, strlen(id) + 1);
	snprintf(want, sizeof(want), "{\"id\":\"%s\"}", id);
	if (strcmp(record, want) != 0)
		col->bad_records++;
	col->n++;
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_dir_list_many(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	char(*ids)[UUID_STR_LEN] = calloc(MANY, UUID_STR_LEN);
	struct collected col = {.stop_after = -1};
	rados_ioctx_t io;
	double t0, t1;

	assert_non_null(ids);
	col.ids = calloc(MANY, UUID_STR_LEN);
	assert_non_null(col.ids);

	/* an empty (not yet existing) directory lists nothing */
	assert_int_equal(dir_list(f->c, DIR_SNAPSHOTS, collect, &col, &err), 0);
	assert_int_equal(col.n, 0);

	/* 10,000 records in the directory's format, written with a few large write ops */
	assert_int_equal(cluster_state_ioctx(f->c, &io, &err), 0);
	for (int b = 0; b < MANY / BATCH; b++) {
		char **keys = calloc(2 * BATCH, sizeof(char *));
		char **vals = calloc(2 * BATCH, sizeof(char *));
		size_t *lens = calloc(2 * BATCH, sizeof(size_t));
		rados_write_op_t op = rados_create_write_op();

		assert_non_null(keys);
		assert_non_null(vals);
		assert_non_null(lens);
		for (int i = 0; i < BATCH; i++) {
			char *id = ids[b * BATCH + i];
			assert_int_equal(uuid_generate_str(id), 0);
			keys[2 * i] = str_printf("name.snap-%d", b * BATCH + i);
			vals[2 * i] = strdup(id);
			keys[2 * i + 1] = str_printf("id.%s", id);
			vals[2 * i + 1] = str_printf("{\"id\":\"%s\"}", id);
			lens[2 * i] = strlen(vals[2 * i]);
			lens[2 * i + 1] = strlen(vals[2 * i + 1]);
		}
		rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
		rados_write_op_omap_set(op, (const char *const *)keys, (const char *const *)vals,
		                        lens, 2 * BATCH);
		assert_int_equal(rados_write_op_operate(op, io, "directory.snapshots", NULL, 0), 0);
		rados_release_write_op(op);
		for (int i = 0; i < 2 * BATCH; i++) {
			free(keys[i]);
			free(vals[i]);
		}
		free(keys);
		free(vals);
		free(lens);
	}

	t0 = now_s();
	assert_int_equal(dir_list(f->c, DIR_SNAPSHOTS, collect, &col, &err), 0);
	t1 = now_s();
	printf("# dir_list of %d records: %.3f s\n", MANY, t1 - t0);

	/* every record, once, in id order, with its own record text; no name keys */
	assert_int_equal(col.n, MANY);
	assert_int_equal(col.bad_records, 0);
	qsort(ids, MANY, UUID_STR_LEN, cmp_id);
	for (int i = 0; i < MANY; i++)
		assert_string_equal(col.ids[i], ids[i]);

	/* the API sees the records written in the same format */
	char got[128];
	assert_int_equal(dir_lookup(f->c, DIR_SNAPSHOTS, "snap-4321", got, sizeof(got), &err), 0);
	assert_true(uuid_is_valid(got));

	/* a callback that fails stops the listing and its error comes back */
	col.n = 0;
	col.bad_records = 0;
	col.stop_after = 1500;
	assert_int_equal(dir_list(f->c, DIR_SNAPSHOTS, collect, &col, &err), -EINTR);
	assert_int_equal(col.n, 1500);
	err_clear(&err);

	free(col.ids);
	free(ids);
}

/* ---- intents ------------------------------------------------------------------------------- */

struct seen {
	int n;
	char op[64];
	char step[32];
	char volume[64];
	char image[64];
	bool has_host, has_created;
};

static int see_intent(const char *op_id, struct json_object *intent, void *userdata)
{
	struct seen *s = userdata;
	struct json_object *targets = NULL;
	const char *v;

	s->n++;
	snprintf(s->op, sizeof(s->op), "%s", op_id);
	v = json_get_string(intent, "step");
	snprintf(s->step, sizeof(s->step), "%s", v ? v : "");
	s->has_host = json_get_string(intent, "host") != NULL;
	v = json_get_string(intent, "created");
	/* RFC 3339 UTC: 2026-01-02T03:04:05Z */
	s->has_created = v && strlen(v) == 20 && v[10] == 'T' && v[19] == 'Z';
	if (json_object_object_get_ex(intent, "targets", &targets)) {
		v = json_get_string(targets, "volume");
		snprintf(s->volume, sizeof(s->volume), "%s", v ? v : "");
		v = json_get_string(targets, "image");
		snprintf(s->image, sizeof(s->image), "%s", v ? v : "");
	}
	return 0;
}

struct target_setter {
	struct cluster *c;
	const char *op;
	char key[16];
	int result;
	struct cairn_err err;
};

static void *set_target_main(void *arg)
{
	struct target_setter *t = arg;

	t->result = intent_set_target(t->c, t->op, t->key, "v", &t->err);
	return NULL;
}

static void test_intents(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	char op[UUID_STR_LEN], other[UUID_STR_LEN], *rec = NULL;
	struct seen s = {0};
	struct json_object *targets = json_object_new_object();

	assert_int_equal(uuid_generate_str(op), 0);
	assert_int_equal(uuid_generate_str(other), 0);
	assert_int_equal(json_add_string(targets, "volume", "web1"), 0);
	assert_int_equal(intent_begin(f->c, op, "volume.create", targets, &err), 0);
	/* the caller keeps its reference */
	assert_int_equal(json_add_string(targets, "later", "x"), 0);
	assert_int_equal(intent_begin(f->c, op, "volume.create", targets, &err), -EEXIST);
	assert_non_null(strstr(err.msg, op));
	err_clear(&err);
	json_object_put(targets);
	assert_int_equal(intent_begin(f->c, other, "backup.create", NULL, &err), 0);

	assert_int_equal(intent_step(f->c, op, "cloned", &err), 0);
	assert_int_equal(intent_set_target(f->c, op, "image", "volume-1234", &err), 0);

	assert_int_equal(intent_list(f->c, "volume.", see_intent, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.op, op);
	assert_string_equal(s.step, "cloned");
	assert_string_equal(s.volume, "web1");
	assert_string_equal(s.image, "volume-1234");
	assert_true(s.has_host);
	assert_true(s.has_created);

	memset(&s, 0, sizeof(s));
	assert_int_equal(intent_list(f->c, "backup.", see_intent, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.op, other);
	assert_string_equal(s.step, "begin");
	memset(&s, 0, sizeof(s));
	assert_int_equal(intent_list(f->c, "", see_intent, &s, &err), 0);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(intent_list(f->c, "image.", see_intent, &s, &err), 0);
	assert_int_equal(s.n, 0);

	/* four workers add targets at once: each read-modify-write survives */
	struct target_setter ts[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		memset(&ts[i], 0, sizeof(ts[i]));
		ts[i].c = f->c;
		ts[i].op = op;
		snprintf(ts[i].key, sizeof(ts[i].key), "t%d", i);
		assert_int_equal(pthread_create(&th[i], NULL, set_target_main, &ts[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ts[i].result, 0);
	}
	assert_int_equal(dir_get(f->c, DIR_INTENTS, op, &rec, &err), 0);
	for (int i = 0; i < 4; i++) {
		char want[16];
		snprintf(want, sizeof(want), "\"t%d\":\"v\"", i);
		assert_non_null(strstr(rec, want));
	}
	assert_non_null(strstr(rec, "\"image\":\"volume-1234\""));
	free(rec);

	/* intents have no names: only id keys in Ceph */
	char *keys = omap_keys(f, DIR_INTENTS);
	assert_int_equal(count_prefix(keys, "name."), 0);
	assert_int_equal(count_prefix(keys, "id."), 2);
	free(keys);

	assert_int_equal(intent_end(f->c, op, &err), 0);
	assert_int_equal(intent_end(f->c, op, &err), 0);
	assert_int_equal(intent_end(f->c, other, &err), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(intent_list(f->c, NULL, see_intent, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(intent_step(f->c, op, "late", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "not found"));
	err_clear(&err);
	assert_int_equal(intent_set_target(f->c, op, "k", "v", &err), -ENOENT);
	err_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dir_round_trip),
	        cmocka_unit_test(test_dir_insert_existing),
	        cmocka_unit_test(test_dir_update_stale_expect),
	        cmocka_unit_test(test_dir_insert_race),
	        cmocka_unit_test(test_dir_list_many),
	        cmocka_unit_test(test_intents),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
