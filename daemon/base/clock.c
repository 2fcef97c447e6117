// SPDX-License-Identifier: MIT
/* The two clocks (clock.h). */
#include <stdio.h>
#include <time.h>

#include "base/clock.h"

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t profd_now_nanos(void)
{
	return read_clock(CLOCK_REALTIME);
}

int64_t profd_mono_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

void profd_format_utc(int64_t realtime_ns, char *out, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void profd_format_duration(int64_t ns, char *out, size_t len)
{
	int64_t s = ns / 1000000000;

	if (s % 3600 == 0)
		snprintf(out, len, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(out, len, "%lldm", (long long)(s / 60));
	else
		snprintf(out, len, "%llds", (long long)s);
}
