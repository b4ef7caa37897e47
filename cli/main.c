/* SPDX-License-Identifier: MIT */
/* cairn: the command-line client of cairnd. See cairn(1). */
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
	struct cli_env env = {
	        .out = stdout,
	        .err = stderr,
	        .err_is_tty = isatty(STDERR_FILENO) == 1,
	        .env_socket = getenv(CLI_ENV_SOCKET),
	        .poll_timeout = 1,
	};
	int r;

	setlocale(LC_CTYPE, "");
	signal(SIGPIPE, SIG_IGN);
	r = cli_run(argc, argv, &env);
	if (fflush(stdout) != 0 && r == CLI_EXIT_OK)
		r = CLI_EXIT_FAILED;
	return r;
}
