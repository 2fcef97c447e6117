// SPDX-License-Identifier: MIT
/* Flags, environment and address validation: good and bad inputs, table-driven. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"
#include "sources/fd.h"
#include "sources/growth.h"
#include "sources/heap.h"
#include "sources/threads.h"

static const char *env_names[16], *env_values[16];
static int env_n;

static const char *fake_getenv(const char *name)
{
	for (int i = 0; i < env_n; i++)
		if (strcmp(env_names[i], name) == 0)
			return env_values[i];
	return NULL;
}

static void setenv_fake(const char *name, const char *value)
{
	for (int i = 0; i < env_n; i++) {
		if (strcmp(env_names[i], name) == 0) {
			env_values[i] = value;
			return;
		}
	}
	env_names[env_n] = name;
	env_values[env_n++] = value;
}

static int parse(struct profd_config *cfg, char *err, size_t errlen, ...)
{
	char *argv[32] = { "profd" };
	int argc = 1;
	va_list ap;
	char *a;

	va_start(ap, errlen);
	while ((a = va_arg(ap, char *)) != NULL)
		argv[argc++] = a;
	va_end(ap);
	return options_parse(argc, argv, fake_getenv, cfg, err, errlen);
}

static int setup(void **state)
{
	env_n = 0;
	return 0;
}

static void test_defaults_and_flags(void **state)
{
	struct profd_config cfg;
	char err[512] = "";

	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.pid, 42);
	assert_string_equal(cfg.host, "127.0.0.1");
	assert_int_equal(cfg.port, 6060);
	assert_int_equal(cfg.max_seconds, 300);
	assert_int_equal(cfg.request_timeout, 10);
	assert_false(cfg.allow_public);
	assert_int_equal(cfg.heap_mode, HEAP_MODE_DEMAND);
	assert_true(cfg.heap_idle_ns == 600ll * 1000000000);
	assert_true(cfg.heap_budget == 2.0);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", "--heap-idle", "30s", "--heap-budget=0.5", NULL),
			 OPTIONS_RUN);
	assert_true(cfg.heap_idle_ns == 30ll * 1000000000);
	assert_true(cfg.heap_budget == 0.5);
	assert_true(cfg.history_interval_ns == 10ll * 1000000000);
	assert_int_equal(cfg.history_length, 8640);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--history-interval", "1m", "--history-length=0",
			       NULL), OPTIONS_RUN);
	assert_true(cfg.history_interval_ns == 60ll * 1000000000);
	assert_int_equal(cfg.history_length, 0);
	assert_int_equal(cfg.snapshot_keep, 10);
	assert_true(cfg.snapshot_rss_step == 0);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--snapshot-dir", "/tmp", "--snapshot-on", "rss-step=1G",
			       "--snapshot-keep", "3", NULL), OPTIONS_RUN);
	assert_true(cfg.snapshot_rss_step == 1ull << 30);
	assert_int_equal(cfg.snapshot_keep, 3);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--snapshot-dir", "/tmp", "--snapshot-on",
			       "rss-step=1048576", NULL), OPTIONS_RUN);
	assert_true(cfg.snapshot_rss_step == 1ull << 20);
	assert_false(cfg.snapshot_oom || cfg.snapshot_pressure);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--snapshot-dir", "/tmp", "--snapshot-on",
			       "oom,pressure", NULL), OPTIONS_RUN);
	assert_true(cfg.snapshot_oom && cfg.snapshot_pressure && cfg.snapshot_rss_step == 0);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--children", "--snapshot-dir", "/tmp",
			       "--snapshot-on", "pressure", NULL), OPTIONS_RUN);
	assert_true(!cfg.snapshot_oom && cfg.snapshot_pressure);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--snapshot-dir", "/tmp", "--snapshot-on",
			       "rss-step=16M,oom", NULL), OPTIONS_RUN);
	assert_true(cfg.snapshot_oom && cfg.snapshot_rss_step == 16ull << 20);
	assert_true(cfg.block_rate == 10000000);
	assert_true(cfg.block_idle_ns == 600ll * 1000000000);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", "--block-rate", "500us", "--block-idle=90s", NULL),
			 OPTIONS_RUN);
	assert_true(cfg.block_rate == 500000);
	assert_true(cfg.block_idle_ns == 90ll * 1000000000);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--request-timeout", "3", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.request_timeout, 3);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--request-timeout", "0", NULL), -EINVAL);
	assert_non_null(strstr(err, "--request-timeout: '0' is not valid; expected a whole number from 1 to 600"));

	assert_int_equal(parse(&cfg, err, sizeof(err), "-p", "7", "--addr=[::1]:0", "--max-seconds", "60",
			       "--log-level=debug", "--ready-file", "/tmp/r", NULL),
			 OPTIONS_RUN);
	assert_int_equal(cfg.pid, 7);
	assert_string_equal(cfg.host, "::1");
	assert_int_equal(cfg.port, 0);
	assert_int_equal(cfg.max_seconds, 60);
	assert_int_equal(cfg.log_level, 3);
	assert_string_equal(cfg.ready_file, "/tmp/r");

	assert_int_equal(parse(&cfg, err, sizeof(err), "--help", NULL), OPTIONS_HELP);
	assert_int_equal(parse(&cfg, err, sizeof(err), "-V", NULL), OPTIONS_VERSION);
	assert_int_equal(parse(&cfg, err, sizeof(err), "stacks", "--pid", "9", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.command, CMD_STACKS);
	assert_int_equal(cfg.thread_dump, THREADS_METHOD_AUTO);
	assert_int_equal(parse(&cfg, err, sizeof(err), "stacks", "--pid", "9", "--thread-dump", "ptrace", NULL),
			 OPTIONS_RUN);
	assert_int_equal(cfg.thread_dump, THREADS_METHOD_PTRACE);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "9", "--thread-dump=auto", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.thread_dump, THREADS_METHOD_AUTO);
	assert_int_equal(parse(&cfg, err, sizeof(err), "cpu", "--pid", "9", "--seconds", "5", "-o", "x.pb.gz", NULL),
			 OPTIONS_RUN);
	assert_int_equal(cfg.command, CMD_CPU);
	assert_int_equal(cfg.seconds, 5);
	assert_string_equal(cfg.output, "x.pb.gz");
	assert_int_equal(parse(&cfg, err, sizeof(err), "heap", "--pid", "9", "-o", "-", "--heap", "allocs",
			       "--heap-rate", "64k", "--cpu-hz", "250", NULL),
			 OPTIONS_RUN);
	assert_int_equal(cfg.command, CMD_HEAP);
	assert_int_equal(cfg.seconds, 30);
	assert_int_equal(cfg.heap_mode, HEAP_MODE_ALLOCS);
	assert_int_equal(cfg.heap_rate, 65536);
	assert_int_equal(cfg.cpu_hz, 250);
	assert_int_equal(parse(&cfg, err, sizeof(err), "heap", "--pid", "9", "-o", "-", "--heap", "off", NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "nothing to do"));
}

static void test_env_and_precedence(void **state)
{
	struct profd_config cfg;
	char err[512] = "";

	setenv_fake("PROFD_PID", "100");
	setenv_fake("PROFD_ADDR", "localhost:7070");
	setenv_fake("PROFD_MAX_SECONDS", "");
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), OPTIONS_RUN);
	assert_int_equal(cfg.pid, 100);
	assert_string_equal(cfg.host, "localhost");
	assert_int_equal(cfg.port, 7070);
	assert_int_equal(cfg.max_seconds, 300); /* empty variable = unset */
	/* flags win over the environment */
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "5", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.pid, 5);
	/* a bad heap variable is named as the variable, not the flag */
	setenv_fake("PROFD_HEAP_BUDGET", "50");
	setenv_fake("PROFD_HEAP_IDLE", "1h");
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), OPTIONS_RUN);
	assert_true(cfg.heap_budget == 50);
	assert_true(cfg.heap_idle_ns == 3600ll * 1000000000);
	setenv_fake("PROFD_HEAP_IDLE", "forever");
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "PROFD_HEAP_IDLE: expected a duration"));
	setenv_fake("PROFD_HEAP_IDLE", "1h");
	setenv_fake("PROFD_HEAP", "bogus");
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "PROFD_HEAP: expected demand, inuse, allocs or off"));
	env_n = 0;
	setenv_fake("PROFD_PID", "100");
	/* a bad variable is named in the message */
	setenv_fake("PROFD_MAX_CONNECTIONS", "lots");
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "PROFD_MAX_CONNECTIONS"));
	assert_non_null(strstr(err, "4 to 4096"));
	env_n = 0;
	setenv_fake("PROFD_PID", "100");
	setenv_fake("PROFD_REQUEST_TIMEOUT", "30");
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), OPTIONS_RUN);
	assert_int_equal(cfg.request_timeout, 30);
	setenv_fake("PROFD_THREAD_DUMP", "ptrace");
	assert_int_equal(parse(&cfg, err, sizeof(err), NULL), OPTIONS_RUN);
	assert_int_equal(cfg.thread_dump, THREADS_METHOD_PTRACE);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--thread-dump", "auto", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.thread_dump, THREADS_METHOD_AUTO);
}

static void test_growth_flags(void **state)
{
	struct profd_config cfg;
	char err[512] = "";

	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.growth_mode, GROWTH_MODE_DEMAND);
	assert_int_equal(cfg.growth_rate, GROWTH_DEFAULT_RATE);
	assert_true(cfg.growth_idle_ns == GROWTH_DEFAULT_IDLE_NS);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", "--growth", "always", "--growth-rate", "64K",
			       "--growth-idle=90s", NULL),
			 OPTIONS_RUN);
	assert_int_equal(cfg.growth_mode, GROWTH_MODE_ALWAYS);
	assert_int_equal(cfg.growth_rate, 65536);
	assert_true(cfg.growth_idle_ns == 90ll * 1000000000);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", "--growth=off", "--growth-rate", "1", NULL),
			 OPTIONS_RUN);
	assert_int_equal(cfg.growth_mode, GROWTH_MODE_OFF);
	assert_int_equal(cfg.growth_rate, 1);
	/* from the environment, and named as the variable when bad */
	setenv_fake("PROFD_GROWTH_RATE", "2M");
	setenv_fake("PROFD_GROWTH_IDLE", "1h");
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.growth_rate, 2 << 20);
	assert_true(cfg.growth_idle_ns == 3600ll * 1000000000);
	setenv_fake("PROFD_GROWTH_RATE", "lots");
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), -EINVAL);
	assert_non_null(strstr(err, "PROFD_GROWTH_RATE: expected mean bytes faulted in between samples"));
	setenv_fake("PROFD_GROWTH_RATE", "");
	setenv_fake("PROFD_GROWTH", "never");
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), -EINVAL);
	assert_non_null(strstr(err, "PROFD_GROWTH: expected demand, always or off, got 'never'"));
	setenv_fake("PROFD_GROWTH", "");
	/* the fd profile: on demand unless asked otherwise */
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.fd_mode, FD_MODE_DEMAND);
	assert_true(cfg.fd_idle_ns == FD_DEFAULT_IDLE_NS);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", "--fd", "off", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.fd_mode, FD_MODE_OFF);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", "--fd=always", "--fd-idle", "90s", NULL),
			 OPTIONS_RUN);
	assert_int_equal(cfg.fd_mode, FD_MODE_ALWAYS);
	assert_true(cfg.fd_idle_ns == 90ll * 1000000000);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", "--fd-idle", "0s", NULL), -EINVAL);
	assert_non_null(strstr(err, "--fd-idle: expected a duration from 1s to 168h"));
	setenv_fake("PROFD_FD", "off");
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), OPTIONS_RUN);
	assert_int_equal(cfg.fd_mode, FD_MODE_OFF);
	setenv_fake("PROFD_FD", "on");
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "42", NULL), -EINVAL);
	assert_non_null(strstr(err, "PROFD_FD: expected demand, always or off, got 'on'"));
	setenv_fake("PROFD_FD", "");
}

static void test_public_address(void **state)
{
	struct profd_config cfg;
	char err[512] = "";

	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--addr", "0.0.0.0:6060", NULL), -EINVAL);
	assert_non_null(strstr(err, "not a loopback address"));
	assert_non_null(strstr(err, "--allow-public"));
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--addr", ":6060", NULL), -EINVAL);
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--addr", "0.0.0.0:6060", "--allow-public",
			       NULL),
			 OPTIONS_RUN);
	assert_true(cfg.allow_public);
	setenv_fake("PROFD_ALLOW_PUBLIC", "1");
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", "--addr", "10.1.2.3:1", NULL), OPTIONS_RUN);
	env_n = 0;
	setenv_fake("PROFD_ALLOW_PUBLIC", "maybe");
	assert_int_equal(parse(&cfg, err, sizeof(err), "--pid", "1", NULL), -EINVAL);
	assert_non_null(strstr(err, "PROFD_ALLOW_PUBLIC"));
}

static void test_bad_flags(void **state)
{
	static const struct {
		const char *args[9];
		const char *msg; /* must appear in the error */
	} cases[] = {
		{ { NULL }, "--pid is required" },
		{ { "--pid", "abc" }, "not a process ID" },
		{ { "--pid", "-3" }, "not a process ID" },
		{ { "--pid", "0" }, "not a process ID" },
		{ { "--pid", "99999999999" }, "not a process ID" },
		{ { "--pid" }, "needs a value" },
		{ { "--frobnicate" }, "unknown flag '--frobnicate'" },
		{ { "--pid", "1", "--addr", "127.0.0.1" }, "has no port" },
		{ { "--pid", "1", "--addr", "127.0.0.1:65536" }, "0 to 65535" },
		{ { "--pid", "1", "--addr", "127.0.0.1:x" }, "0 to 65535" },
		{ { "--pid", "1", "--addr", "example.com:80" }, "numeric IPv4" },
		{ { "--pid", "1", "--addr", "::1:80" }, "brackets" },
		{ { "--pid", "1", "--addr", "[::1]80" }, "[ADDR]:PORT" },
		{ { "--pid", "1", "--log-level", "loud" }, "not a log level" },
		{ { "--pid", "1", "--max-seconds", "0" }, "1 to 86400" },
		{ { "--pid", "1", "--max-seconds", "86401" }, "1 to 86400" },
		{ { "--pid", "1", "--pid", "2" }, "--pid given twice ('1' and '2')" },
		{ { "-p", "1", "--pid=2" }, "--pid given twice" },
		{ { "--pid", "1", "--allow-public=1" }, "takes no value" },
		{ { "frob", "--pid", "1" }, "unknown command 'frob'" },
		{ { "--pid", "1", "--cpu-hz", "5000" }, "1 to 1000" },
		{ { "--pid", "1", "--thread-dump", "bpf" }, "expected auto or ptrace" },
		{ { "--pid", "1", "--fd", "yes" }, "--fd: expected demand, always or off, got 'yes'" },
		{ { "--pid", "1", "--fd=" }, "--fd: expected demand, always or off" },
		{ { "--pid", "1", "--fd-idle", "soon" }, "--fd-idle: expected a duration from 1s to 168h" },
		{ { "--pid", "1", "--thread-dump", "" }, "expected auto or ptrace" },
		{ { "--pid", "1", "--cpu-stack-bytes", "64" }, "1024 to 32768" },
		{ { "--pid", "1", "--heap", "sometimes" }, "expected demand, inuse, allocs or off" },
		{ { "--pid", "1", "--heap-idle", "10" }, "--heap-idle: expected a duration" },
		{ { "--pid", "1", "--heap-budget", "0" }, "--heap-budget: expected the share" },
		{ { "--pid", "1", "--heap-budget", "150" }, "--heap-budget" },
		{ { "--pid", "1", "--heap-rate", "0" }, "--heap-rate" },
		{ { "--pid", "1", "--heap-rate", "-5" }, "--heap-rate" },
		{ { "--pid", "1", "--block-rate", "0" }, "--block-rate: expected a duration from 1ns to 1s" },
		{ { "--pid", "1", "--block-rate", "2s" }, "--block-rate" },
		{ { "--pid", "1", "--block-rate", "fast" }, "--block-rate" },
		{ { "--pid", "1", "--block-idle", "10" }, "--block-idle: expected a duration" },
		{ { "--pid", "1", "--snapshot-dir", "/nonexistent/dir" }, "--snapshot-dir" },
		{ { "--pid", "1", "--snapshot-on", "rss-step=16M" }, "--snapshot-on needs --snapshot-dir" },
		{ { "--pid", "1", "--snapshot-on", "pressure" }, "--snapshot-on needs --snapshot-dir" },
		{ { "--pid", "1", "--snapshot-on", "oom,sometimes" }, "--snapshot-on: 'sometimes' is not valid" },
		{ { "--pid", "1", "--snapshot-on", "," }, "--snapshot-on: ',' is not valid" },
		{ { "--pid", "1", "--snapshot-dir", "/tmp", "--snapshot-on", "oom", "--heap", "allocs" },
		  "--heap allocs does not track" },
		{ { "--pid", "1", "--snapshot-dir", "/tmp", "--snapshot-on", "pressure", "--heap", "off" },
		  "--snapshot-on pressure writes heap profiles, which --heap off does not take" },
		{ { "--pid", "1", "--children", "--snapshot-dir", "/tmp", "--snapshot-on", "oom,rss-step=16M" },
		  "rss-step follows one process's RSS" },
		{ { "--pid", "1", "--snapshot-on", "rss-step=1023K" }, "rss-step=SIZE, SIZE from 1M to 1024G" },
		{ { "--pid", "1", "--snapshot-on", "rss-step=2048G" }, "--snapshot-on: 'rss-step=2048G' is not valid" },
		{ { "--pid", "1", "--snapshot-on", "rss-step=" }, "--snapshot-on: 'rss-step=' is not valid" },
		{ { "--pid", "1", "--snapshot-on", "rss-step=-5M" }, "--snapshot-on: 'rss-step=-5M' is not valid" },
		{ { "--pid", "1", "--snapshot-keep", "10001" }, "--snapshot-keep: '10001' is not valid" },
		{ { "--pid", "1", "--history-interval", "0s" }, "--history-interval: expected" },
		{ { "--pid", "1", "--history-interval", "90m" }, "--history-interval: expected" },
		{ { "--pid", "1", "--history-interval", "5" }, "--history-interval: expected" },
		{ { "--pid", "1", "--history-length", "100001" }, "--history-length: '100001' is not valid" },
		{ { "--pid", "1", "--history-length", "x" }, "--history-length" },
		{ { "--pid", "1", "--growth", "sometimes" }, "--growth: expected demand, always or off" },
		{ { "--pid", "1", "--growth-rate", "0" }, "--growth-rate: expected mean bytes faulted in" },
		{ { "--pid", "1", "--growth-rate", "1T" }, "--growth-rate: expected mean bytes faulted in" },
		{ { "--pid", "1", "--growth-idle", "0s" }, "--growth-idle: expected a duration from 1s to 168h" },
		{ { "--pid", "1", "--growth-idle", "5" }, "--growth-idle: expected a duration" },
		{ { "--pid", "1", "--seconds", "5" }, "for the cpu and heap commands" },
		{ { "cpu", "--pid", "1" }, "needs -o FILE" },
		{ { "heap", "--pid", "1", "--seconds" }, "needs a value" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[11] = { "profd" };
		struct profd_config cfg;
		char err[512] = "";
		int argc = 1;

		for (int k = 0; k < 9 && cases[i].args[k]; k++)
			argv[argc++] = (char *)cases[i].args[k];
		assert_int_equal(options_parse(argc, argv, fake_getenv, &cfg, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].msg);
	}
}

static void test_addr(void **state)
{
	static const struct {
		const char *in, *host;
		unsigned port;
		int loopback;
	} good[] = {
		{ "127.0.0.1:6060", "127.0.0.1", 6060, 1 },  { "127.9.8.7:1", "127.9.8.7", 1, 1 },
		{ "localhost:0", "localhost", 0, 1 },        { "[::1]:6060", "::1", 6060, 1 },
		{ "[::ffff:127.0.0.1]:5", "::ffff:127.0.0.1", 5, 1 },
		{ "0.0.0.0:80", "0.0.0.0", 80, 0 },          { "[::]:80", "::", 80, 0 },
		{ ":6060", "0.0.0.0", 6060, 0 },             { "192.168.1.1:65535", "192.168.1.1", 65535, 0 },
		{ "[2001:db8::1]:443", "2001:db8::1", 443, 0 },
	};
	static const char *bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:+1", "[::1]",
				     "[::1]:", "[127.0.0.1]:80", "1.2.3:80", "host:80", "::1:80", "[::1]:99999" };
	char host[256], err[256];
	unsigned port;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (addr_parse(good[i].in, host, sizeof(host), &port, err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", good[i].in, err);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		assert_int_equal(addr_is_loopback(host), good[i].loopback);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (addr_parse(bad[i], host, sizeof(host), &port, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_and_flags, setup),
		cmocka_unit_test_setup(test_env_and_precedence, setup),
		cmocka_unit_test_setup(test_growth_flags, setup),
		cmocka_unit_test_setup(test_public_address, setup),
		cmocka_unit_test_setup(test_bad_flags, setup),
		cmocka_unit_test_setup(test_addr, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
