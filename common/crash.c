/* SPDX-License-Identifier: MIT */
/*
 * common: on a fatal signal (a crash in cairn or in a library under it), the stack goes to
 * stderr before the process dies of that signal as it would have: the log of a test run
 * or of the journal then says where, where no core file is kept.
 */
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

#define CRASH_FRAMES 64

static void write_str(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));
	(void)r;
}

static void on_fatal(int sig)
{
	void *frames[CRASH_FRAMES];
	int n;

	/* async-signal-safe only: write(2), backtrace (loaded at install), no stdio */
	write_str("fatal signal ");
	write_str(sig == SIGSEGV   ? "SIGSEGV"
	          : sig == SIGABRT ? "SIGABRT"
	          : sig == SIGBUS  ? "SIGBUS"
	          : sig == SIGFPE  ? "SIGFPE"
	                           : "SIGILL");
	write_str(", stack:\n");
	n = backtrace(frames, CRASH_FRAMES);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	/* SA_RESETHAND put the default action back: die of the same signal (core, status) */
	raise(sig);
}

void crash_handler_install(void)
{
	static const int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
	struct sigaction sa;
	void *warm[1];

#if defined(__SANITIZE_ADDRESS__)
	return; /* ASan's own handlers say more */
#endif
	/* backtrace() loads libgcc_s on its first call: not in a signal handler */
	backtrace(warm, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}
