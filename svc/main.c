/* SPDX-License-Identifier: MIT */
/* cairnd: the cairn daemon. */
#define LOG_MODULE "cairnd"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "libvirt-glue/libvirt-glue.h"
#include "svc/svc.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: cairnd [OPTIONS]\n"
	        "\n"
	        "The cairn daemon: storage orchestration for KVM disks in Ceph RBD. It serves the\n"
	        "REST API on a Unix socket until SIGTERM or SIGINT; SIGHUP reloads the log level.\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config PATH   configuration file (default %s)\n"
	        "      --print-config  print the effective configuration and exit\n"
	        "      --check-config  check the configuration and exit\n"
	        "  -h, --help          show this help\n"
	        "  -V, --version       show the version\n"
	        "\n"
	        "See cairnd(8) and cairn.conf(5).\n",
	        CONF_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'}, {"print-config", no_argument, NULL, 'p'},
	        {"check-config", no_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	struct virt_event_loop *events = NULL;
	struct cairn_config conf;
	struct cairn_err err = {0};
	const char *path = NULL;
	bool print = false, check = false;
	int c, r;

	crash_handler_install();
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'p':
			print = true;
			break;
		case 'k':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cairnd %s\n", CAIRN_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairnd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (conf_init_defaults(&conf) < 0) {
		fprintf(stderr, "cairnd: out of memory\n");
		return 1;
	}
	r = conf_load_file(&conf, path, &err);
	if (r >= 0)
		r = conf_validate(&conf, &err);
	if (r < 0) {
		fprintf(stderr, "cairnd: %s\n", err.msg);
		conf_release(&conf);
		return 1;
	}
	if (print) {
		r = conf_dump(&conf, stdout);
		conf_release(&conf);
		return r < 0 ? 1 : 0;
	}
	if (check) {
		printf("%s: ok\n", path ? path : CONF_DEFAULT_PATH);
		conf_release(&conf);
		return 0;
	}
	log_setup(conf.service.log_level, true);
	r = virt_glue_init();
	if (r < 0) {
		fprintf(stderr, "cairnd: cannot initialise libvirt and libxml2: %s\n",
		        strerror(-r));
		conf_release(&conf);
		return 1;
	}
	r = virt_event_loop_start(&events);
	if (r < 0) {
		fprintf(stderr, "cairnd: cannot start libvirt's event loop: %s\n", strerror(-r));
		virt_glue_cleanup();
		conf_release(&conf);
		return 1;
	}
	r = svc_run(&conf, path);
	virt_event_loop_stop(events);
	virt_glue_cleanup();
	conf_release(&conf);
	return r < 0 ? 1 : 0;
}
