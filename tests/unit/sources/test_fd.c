// SPDX-License-Identifier: MIT
/* Fd source pieces that need no privileges: the type of a descriptor from its /proc link, the
 * names the profile gives those types (the symbolizer's synthetic frames), the syscall names,
 * and which syscalls the BPF program takes as creating a descriptor (the same inline code it
 * runs), with bpf/fd.h's numbers checked against the system's <sys/syscall.h>. */
#include <errno.h>
#include <linux/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "bpf/fd.h"
#include "sources/fd.h"
#include "symbols/frame.h"
#include "symbols/symbolize.h"

static void test_kind_of(void **state)
{
	static const struct {
		const char *link;
		int is_dir;
		int kind;
	} cases[] = {
		{ "socket:[12345]", 0, SYM_SYNTHETIC_FD_SOCKET },
		{ "pipe:[7]", 0, SYM_SYNTHETIC_FD_PIPE },
		{ "anon_inode:[eventfd]", 0, SYM_SYNTHETIC_FD_EVENTFD },
		{ "anon_inode:[eventpoll]", 0, SYM_SYNTHETIC_FD_EPOLL },
		{ "anon_inode:[timerfd]", 0, SYM_SYNTHETIC_FD_TIMERFD },
		{ "anon_inode:[signalfd]", 0, SYM_SYNTHETIC_FD_SIGNALFD },
		{ "anon_inode:inotify", 0, SYM_SYNTHETIC_FD_INOTIFY },
		{ "anon_inode:[pidfd]", 0, SYM_SYNTHETIC_FD_PIDFD },
		{ "anon_inode:bpf-map", 0, SYM_SYNTHETIC_FD_BPF },
		{ "anon_inode:bpf-prog", 0, SYM_SYNTHETIC_FD_BPF },
		{ "anon_inode:[perf_event]", 0, SYM_SYNTHETIC_FD_PERF_EVENT },
		{ "anon_inode:[userfaultfd]", 0, SYM_SYNTHETIC_FD_ANON },
		{ "anon_inode:[io_uring]", 0, SYM_SYNTHETIC_FD_ANON },
		{ "/dev/null", 0, SYM_SYNTHETIC_FD_DEVICE },
		{ "/dev/pts/0", 0, SYM_SYNTHETIC_FD_DEVICE },
		{ "/tmp/x (deleted)", 0, SYM_SYNTHETIC_FD_FILE },
		{ "/memfd:cache (deleted)", 0, SYM_SYNTHETIC_FD_FILE },
		{ "/etc", 1, SYM_SYNTHETIC_FD_DIRECTORY },
		{ "/", 1, SYM_SYNTHETIC_FD_DIRECTORY },
		/* bad or empty: gone before it could be read */
		{ "", 0, SYM_SYNTHETIC_FD_OTHER },
		{ NULL, 0, SYM_SYNTHETIC_FD_OTHER },
		{ "socket", 0, SYM_SYNTHETIC_FD_FILE }, /* not "socket:": a relative name, taken as a file */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int k = fd_kind_of(cases[i].link, cases[i].is_dir);

		if (k != cases[i].kind)
			fail_msg("'%s' (dir %d): kind %d, expected %d", cases[i].link ? cases[i].link : "(null)",
				 cases[i].is_dir, k, cases[i].kind);
	}
}

/* Every synthetic kind the fd profile uses has a name, and the ones users match on are stable. */
static void test_kind_names(void **state)
{
	static const struct {
		int kind;
		const char *name;
	} names[] = {
		{ SYM_SYNTHETIC_FD_BEFORE_ATTACH, "opened before profd attached" },
		{ SYM_SYNTHETIC_FD_UNSEEN, "opened where profd did not see it" },
		{ SYM_SYNTHETIC_FD_SOCKET, "socket" },
		{ SYM_SYNTHETIC_FD_PIPE, "pipe" },
		{ SYM_SYNTHETIC_FD_FILE, "file" },
		{ SYM_SYNTHETIC_FD_EVENTFD, "anon_inode:[eventfd]" },
	};
	struct sym_result r;

	(void)state;
	for (int k = SYM_SYNTHETIC_FD_BEFORE_ATTACH; k <= SYM_SYNTHETIC_FD_OTHER; k++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(symbolizer__lookup(NULL, sym_synthetic_addr((enum sym_synthetic)k), &r), 0);
		assert_int_equal(r.nframes, 1);
		assert_non_null(r.frames[0].name);
		assert_true(strlen(r.frames[0].name) > 0);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(symbolizer__lookup(NULL, sym_synthetic_addr((enum sym_synthetic)names[i].kind), &r), 0);
		assert_string_equal(r.frames[0].name, names[i].name);
	}
}

static void test_syscall_numbers(void **state)
{
	(void)state;
	/* bpf/fd.h carries its own numbers (BPF code has no libc headers): they must be the system's */
	assert_int_equal(PROFD_SYS_OPEN, SYS_open);
	assert_int_equal(PROFD_SYS_CLOSE, SYS_close);
	assert_int_equal(PROFD_SYS_PIPE, SYS_pipe);
	assert_int_equal(PROFD_SYS_DUP, SYS_dup);
	assert_int_equal(PROFD_SYS_DUP2, SYS_dup2);
	assert_int_equal(PROFD_SYS_SOCKET, SYS_socket);
	assert_int_equal(PROFD_SYS_ACCEPT, SYS_accept);
	assert_int_equal(PROFD_SYS_SOCKETPAIR, SYS_socketpair);
	assert_int_equal(PROFD_SYS_FCNTL, SYS_fcntl);
	assert_int_equal(PROFD_SYS_CREAT, SYS_creat);
	assert_int_equal(PROFD_SYS_EPOLL_CREATE, SYS_epoll_create);
	assert_int_equal(PROFD_SYS_INOTIFY_INIT, SYS_inotify_init);
	assert_int_equal(PROFD_SYS_OPENAT, SYS_openat);
	assert_int_equal(PROFD_SYS_SIGNALFD, SYS_signalfd);
	assert_int_equal(PROFD_SYS_TIMERFD_CREATE, SYS_timerfd_create);
	assert_int_equal(PROFD_SYS_EVENTFD, SYS_eventfd);
	assert_int_equal(PROFD_SYS_ACCEPT4, SYS_accept4);
	assert_int_equal(PROFD_SYS_SIGNALFD4, SYS_signalfd4);
	assert_int_equal(PROFD_SYS_EVENTFD2, SYS_eventfd2);
	assert_int_equal(PROFD_SYS_EPOLL_CREATE1, SYS_epoll_create1);
	assert_int_equal(PROFD_SYS_DUP3, SYS_dup3);
	assert_int_equal(PROFD_SYS_PIPE2, SYS_pipe2);
	assert_int_equal(PROFD_SYS_INOTIFY_INIT1, SYS_inotify_init1);
	assert_int_equal(PROFD_SYS_PERF_EVENT_OPEN, SYS_perf_event_open);
	assert_int_equal(PROFD_SYS_FANOTIFY_INIT, SYS_fanotify_init);
	assert_int_equal(PROFD_SYS_OPEN_BY_HANDLE_AT, SYS_open_by_handle_at);
	assert_int_equal(PROFD_SYS_MEMFD_CREATE, SYS_memfd_create);
	assert_int_equal(PROFD_SYS_BPF, SYS_bpf);
	assert_int_equal(PROFD_SYS_USERFAULTFD, SYS_userfaultfd);
	assert_int_equal(PROFD_SYS_IO_URING_SETUP, SYS_io_uring_setup);
	assert_int_equal(PROFD_SYS_PIDFD_OPEN, SYS_pidfd_open);
	assert_int_equal(PROFD_SYS_CLOSE_RANGE, SYS_close_range);
	assert_int_equal(PROFD_SYS_OPENAT2, SYS_openat2);
	assert_int_equal(PROFD_SYS_PIDFD_GETFD, SYS_pidfd_getfd);
#ifdef SYS_memfd_secret
	assert_int_equal(PROFD_SYS_MEMFD_SECRET, SYS_memfd_secret);
#endif
}

static void test_creates(void **state)
{
	(void)state;
	assert_true(profd_fd_syscall_creates(SYS_openat, 0, 0));
	assert_true(profd_fd_syscall_creates(SYS_socket, 2, 1));
	assert_true(profd_fd_syscall_creates(SYS_pipe2, 0, 0));
	assert_true(profd_fd_syscall_creates(SYS_socketpair, 1, 1));
	assert_true(profd_fd_syscall_creates(SYS_dup2, 3, 4));
	/* fcntl: only the dup commands */
	assert_true(profd_fd_syscall_creates(SYS_fcntl, 3, 0 /* F_DUPFD */));
	assert_true(profd_fd_syscall_creates(SYS_fcntl, 3, 1030 /* F_DUPFD_CLOEXEC */));
	assert_false(profd_fd_syscall_creates(SYS_fcntl, 3, 2 /* F_SETFD */));
	assert_false(profd_fd_syscall_creates(SYS_fcntl, 3, 3 /* F_GETFL */));
	/* bpf: only the commands that return a descriptor */
	assert_true(profd_fd_syscall_creates(SYS_bpf, 0 /* BPF_MAP_CREATE */, 0));
	assert_true(profd_fd_syscall_creates(SYS_bpf, 5 /* BPF_PROG_LOAD */, 0));
	assert_false(profd_fd_syscall_creates(SYS_bpf, 1 /* BPF_MAP_LOOKUP_ELEM */, 0));
	assert_false(profd_fd_syscall_creates(SYS_bpf, 10 /* BPF_PROG_TEST_RUN */, 0));
	/* not creators */
	assert_false(profd_fd_syscall_creates(SYS_close, 3, 0));
	assert_false(profd_fd_syscall_creates(SYS_read, 3, 0));
	assert_false(profd_fd_syscall_creates(SYS_close_range, 3, 10));
	assert_false(profd_fd_syscall_creates(-1, 0, 0));
	assert_false(profd_fd_syscall_creates(100000, 0, 0));
}

static void test_syscall_names(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(fd_syscall_name(SYS_openat, buf, sizeof(buf)), "openat");
	assert_string_equal(fd_syscall_name(SYS_pipe2, buf, sizeof(buf)), "pipe2");
	assert_string_equal(fd_syscall_name(SYS_accept4, buf, sizeof(buf)), "accept4");
	assert_string_equal(fd_syscall_name(SYS_memfd_create, buf, sizeof(buf)), "memfd_create");
	assert_string_equal(fd_syscall_name(SYS_read, buf, sizeof(buf)), "syscall 0");
	assert_string_equal(fd_syscall_name(-5, buf, sizeof(buf)), "syscall -5");
	/* every creator has a name */
	for (int nr = 0; nr < 600; nr++)
		if (profd_fd_syscall_creates(nr, 0, 0) && nr != SYS_fcntl && nr != SYS_bpf)
			assert_true(strncmp(fd_syscall_name(nr, buf, sizeof(buf)), "syscall ", 8) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_of),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_syscall_numbers),
		cmocka_unit_test(test_creates),
		cmocka_unit_test(test_syscall_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
