// SPDX-License-Identifier: MIT
/* /metrics families for a process's resources and profd's own (resources.h). */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "http/resources.h"

struct fam {
	const char *name;
	enum metric_type type;
	const char *help;
};

static int add(struct metrics *m, const struct fam *f, const struct metric_label *l, int nl, double v, int *err)
{
	int r = metrics__add(m, f->name, f->type, f->help, l, nl, v);

	if (r && !*err)
		*err = r;
	return r;
}

int resources_add_process(struct metrics *m, pid_t pid, const char *comm, const struct proc_figures *f)
{
	static const struct fam rss = { "profd_process_resident_memory_bytes", METRIC_GAUGE,
					"Resident memory of the process (VmRSS in /proc/PID/status)." },
				anon = { "profd_process_resident_memory_anon_bytes", METRIC_GAUGE,
					 "Resident anonymous memory of the process (RssAnon): heap, stacks, private "
					 "data." },
				file = { "profd_process_resident_memory_file_bytes", METRIC_GAUGE,
					 "Resident file-backed memory of the process (RssFile): code, mapped files." },
				shmem = { "profd_process_resident_memory_shmem_bytes", METRIC_GAUGE,
					  "Resident shared memory of the process (RssShmem)." },
				swap = { "profd_process_swap_bytes", METRIC_GAUGE,
					 "Memory of the process swapped out (VmSwap)." },
				threads = { "profd_process_threads", METRIC_GAUGE, "Threads of the process." },
				fds = { "profd_process_open_fds", METRIC_GAUGE,
					"Open file descriptors of the process (entries of /proc/PID/fd, counted up to "
					"1048576)." },
				cpu = { "profd_process_cpu_seconds_total", METRIC_COUNTER,
					"CPU time of the process, all its threads (dead ones included), by mode." },
				csw = { "profd_process_context_switches_total", METRIC_COUNTER,
					"Context switches of the process's live threads, by kind (voluntary: it "
					"blocked; involuntary: it was preempted); it drops when threads exit." },
				flt = { "profd_process_page_faults_total", METRIC_COUNTER,
					"Page faults of the process, by kind (minor: no I/O; major: read from disk)." },
				cgcur = { "profd_process_cgroup_memory_current_bytes", METRIC_GAUGE,
					  "memory.current of the process's memory cgroup (the whole cgroup's, every "
					  "process in it; memory.usage_in_bytes where the controller is on cgroup v1)." },
				cgmax = { "profd_process_cgroup_memory_max_bytes", METRIC_GAUGE,
					  "memory.max of the process's memory cgroup (memory.limit_in_bytes on cgroup "
					  "v1); absent when it has no limit." };
	char p[16];
	struct metric_label l[3] = { { "pid", p }, { "process", comm }, { NULL, NULL } };
	int err = 0;

	snprintf(p, sizeof(p), "%d", (int)pid);
	if (f->rss_bytes >= 0)
		add(m, &rss, l, 2, (double)f->rss_bytes, &err);
	if (f->rss_anon_bytes >= 0)
		add(m, &anon, l, 2, (double)f->rss_anon_bytes, &err);
	if (f->rss_file_bytes >= 0)
		add(m, &file, l, 2, (double)f->rss_file_bytes, &err);
	if (f->rss_shmem_bytes >= 0)
		add(m, &shmem, l, 2, (double)f->rss_shmem_bytes, &err);
	if (f->swap_bytes >= 0)
		add(m, &swap, l, 2, (double)f->swap_bytes, &err);
	if (f->threads >= 0)
		add(m, &threads, l, 2, (double)f->threads, &err);
	if (f->fds >= 0)
		add(m, &fds, l, 2, (double)f->fds, &err);
	l[2].name = "mode";
	if (f->cpu_user_s >= 0) {
		l[2].value = "user";
		add(m, &cpu, l, 3, f->cpu_user_s, &err);
		l[2].value = "system";
		add(m, &cpu, l, 3, f->cpu_system_s, &err);
	}
	l[2].name = "kind";
	if (f->ctxsw_vol >= 0) {
		l[2].value = "voluntary";
		add(m, &csw, l, 3, (double)f->ctxsw_vol, &err);
		l[2].value = "involuntary";
		add(m, &csw, l, 3, (double)f->ctxsw_invol, &err);
	}
	if (f->minflt >= 0) {
		l[2].value = "minor";
		add(m, &flt, l, 3, (double)f->minflt, &err);
		l[2].value = "major";
		add(m, &flt, l, 3, (double)f->majflt, &err);
	}
	if (f->cg_mem_current >= 0) {
		l[2].name = "cgroup";
		l[2].value = f->cgroup;
		add(m, &cgcur, l, 3, (double)f->cg_mem_current, &err);
		if (f->cg_mem_max >= 0)
			add(m, &cgmax, l, 3, (double)f->cg_mem_max, &err);
	}
	return err;
}

int resources_add_self(struct metrics *m)
{
	static const struct fam rss = { "profd_self_resident_memory_bytes", METRIC_GAUGE,
					"profd's own resident memory." },
				cpu = { "profd_self_cpu_seconds_total", METRIC_COUNTER,
					"profd's own CPU time, by mode." },
				fds = { "profd_self_open_fds", METRIC_GAUGE, "profd's own open file descriptors." },
				threads = { "profd_self_threads", METRIC_GAUGE, "profd's own threads." };
	struct proc_figures f;
	struct metric_label l = { "mode", "user" };
	int err = procstat_read(getpid(), PROCSTAT_FDS, &f);

	if (err)
		return err;
	if (f.rss_bytes >= 0)
		add(m, &rss, NULL, 0, (double)f.rss_bytes, &err);
	if (f.cpu_user_s >= 0) {
		add(m, &cpu, &l, 1, f.cpu_user_s, &err);
		l.value = "system";
		add(m, &cpu, &l, 1, f.cpu_system_s, &err);
	}
	if (f.threads >= 0)
		add(m, &threads, NULL, 0, (double)f.threads, &err);
	if (f.fds >= 0)
		add(m, &fds, NULL, 0, (double)f.fds, &err);
	return err;
}
