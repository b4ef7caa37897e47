/* SPDX-License-Identifier: MIT */
/*
 * cairn-bench COMMAND [OPTIONS]: one benchmark, its rows as JSON on stdout. bench/run
 * starts the cluster and cairnd and calls each command; see bench/README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

static const struct {
	const char *name;
	bench_cmd_fn fn;
	const char *summary;
} commands[] = {
        {"api", bench_api, "GET of one volume at 1 and N clients, list of --count volumes, RSS"},
        {"backup", bench_backup, "full, incremental and restore vs rbd export-diff/import-diff"},
        {"clone", bench_clone, "volume from image: cairnd vs the rbd CLI vs librbd in-process"},
        {"create", bench_create, "--count creates from --clients clients vs a serial rbd create"},
        {"group", bench_group, "group snapshot of --count volumes vs one snapshot each"},
        {"import", bench_import, "image import of a qcow2 vs rbd import of the same raw"},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: cairn-bench COMMAND --socket PATH --ceph-conf PATH --images-pool P\n"
	           "                   --volumes-pool P [--prefix S] [--rounds N] [--per-round N]\n"
	           "                   [--clients N] [--count N] [--image NAME] [--qcow2 NAME]\n"
	           "                   [--raw PATH] [--size BYTES] [--pid PID]\n"
	           "commands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

static int parse_uint(const char *s, const char *what, unsigned long long max,
                      unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-') {
		fprintf(stderr, "cairn-bench: bad %s '%s'\n", what, s);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"ceph-conf", required_argument, NULL, 'c'},
	        {"images-pool", required_argument, NULL, 'I'},
	        {"volumes-pool", required_argument, NULL, 'V'},
	        {"prefix", required_argument, NULL, 'p'},
	        {"rounds", required_argument, NULL, 'r'},
	        {"per-round", required_argument, NULL, 'n'},
	        {"clients", required_argument, NULL, 'j'},
	        {"count", required_argument, NULL, 'N'},
	        {"image", required_argument, NULL, 'i'},
	        {"qcow2", required_argument, NULL, 'q'},
	        {"raw", required_argument, NULL, 'R'},
	        {"size", required_argument, NULL, 'z'},
	        {"pid", required_argument, NULL, 'P'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct bench_opts o = {
	        .prefix = "bench",
	        .rounds = 3,
	        .per_round = 20,
	        .clients = 32,
	        .count = 200,
	};
	struct cairn_err err = {0};
	struct json_object *out, *rows;
	bench_cmd_fn fn = NULL;
	unsigned long long v;
	size_t i;
	int c, r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			fn = commands[i].fn;
	}
	if (!fn) {
		fprintf(stderr, "cairn-bench: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket = optarg;
			break;
		case 'c':
			o.ceph_conf = optarg;
			break;
		case 'I':
			o.images_pool = optarg;
			break;
		case 'V':
			o.volumes_pool = optarg;
			break;
		case 'p':
			o.prefix = optarg;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'q':
			o.qcow2 = optarg;
			break;
		case 'R':
			o.raw = optarg;
			break;
		case 'r':
		case 'n':
		case 'j':
		case 'N':
		case 'P':
			if (parse_uint(optarg, "number", 1000000000, &v) < 0 || v == 0)
				return 2;
			if (c == 'r')
				o.rounds = (unsigned)v;
			else if (c == 'n')
				o.per_round = (unsigned)v;
			else if (c == 'j')
				o.clients = (unsigned)v;
			else if (c == 'N')
				o.count = (unsigned)v;
			else
				o.pid = (int)v;
			break;
		case 'z':
			if (size_parse(optarg, &o.size) < 0 || o.size == 0) {
				fprintf(stderr, "cairn-bench: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !o.socket || !o.ceph_conf || !o.images_pool || !o.volumes_pool) {
		usage(stderr);
		return 2;
	}
	out = json_object_new_object();
	rows = json_object_new_array();
	if (!out || !rows) {
		fprintf(stderr, "cairn-bench: out of memory\n");
		return 1;
	}
	json_object_object_add(out, "rows", rows);
	r = fn(&o, rows, &err);
	if (r < 0)
		fprintf(stderr, "cairn-bench %s: %s\n", argv[1],
		        err.msg[0] ? err.msg : strerror(-r));
	/* the rows measured before a failure still count */
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	return r < 0 ? 1 : 0;
}
