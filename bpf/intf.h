/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one contract between the BPF programs and Rust. Every type that
 * crosses the boundary (map keys and values, ring-buffer events, counter
 * indices) is declared here; libbpf-cargo generates the Rust bindings from
 * the compiled object, and probes/src checks their sizes against these.
 */
#ifndef __ALPS_INTF_H
#define __ALPS_INTF_H

#ifndef __VMLINUX_H__
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
#endif

#define ALPS_MAX_INVOCATIONS 16384
#define ALPS_MAX_SPAWNERS 1024
#define ALPS_MAX_WATCH 4096

/* Why a task left the CPU (also the off-CPU bucket it then accrues to). */
enum alps_reason {
	ALPS_PREEMPTED = 0,
	ALPS_BLOCK_IO = 1,
	ALPS_FUTEX = 2,
	ALPS_SLEEP = 3,
	ALPS_OTHER_BLOCKED = 4,
	ALPS_EXIT = 5,
};

/* Where a tagged task is in its life (what its time since `last_ns` is). */
enum alps_task_state {
	ALPS_TS_RUNNING = 0,
	ALPS_TS_RUNNABLE_WAKEUP = 1,  /* woken or forked, waiting for a CPU */
	ALPS_TS_RUNNABLE_PREEMPT = 2, /* preempted, waiting for a CPU */
	ALPS_TS_BLOCKED = 3,          /* off CPU; the bucket is `reason` */
	ALPS_TS_DEAD = 4,
};

/* Indices of the per-CPU counters (struct alps_stats). */
enum alps_counter {
	ALPS_CNT_SWITCHES = 0,   /* sched_switch events touching a tagged task */
	ALPS_CNT_WAKEUPS,        /* wakeups of tagged tasks */
	ALPS_CNT_FORKS,          /* tagged tasks created (roots and children) */
	ALPS_CNT_EXITS,          /* tagged tasks finished */
	ALPS_CNT_RECORDS,        /* invocation records submitted */
	ALPS_CNT_RECORDS_DROPPED,/* ring buffer full: record lost */
	ALPS_CNT_STINTS,         /* stint events submitted */
	ALPS_CNT_STINTS_DROPPED, /* ring buffer full: stint lost */
	ALPS_CNT_MAP_FULL,       /* task storage or invocation entry not created */
	ALPS_CNT_LOST_EVENTS,    /* impossible transition: a prior event never arrived */
	ALPS_CNT_NR,
};

struct alps_stats {
	u64 cnt[ALPS_CNT_NR];
};

/* Written by userspace under the spawning thread's tid just before it forks
 * the function's first process: the child is tagged from birth. */
struct alps_tag {
	u64 invocation_id;
	u32 function_id;
	u32 pad;
};

/* Per-invocation aggregate (map `invocations`), summed over its tasks as
 * each task dies, emitted as one record when the last one does. */
struct alps_inv {
	u64 invocation_id;
	u32 function_id;
	u32 live_tasks;
	u64 start_ns;
	u64 end_ns;
	u64 lifetime_ns;
	u64 on_cpu_ns;
	u64 runq_wakeup_ns;
	u64 runq_preempt_ns;
	u64 block_io_ns;
	u64 futex_ns;
	u64 sleep_ns;
	u64 other_blocked_ns;
	u64 bursts;
	u64 burst_sum_ns;
	u64 max_burst_ns;
	u64 wakeups;
	u64 nvcsw;
	u64 nivcsw;
	u64 block_requests;
	u64 block_bytes;
	u64 threads;
	s32 exit_code;
	u32 pad;
};

/* Record event: the finished invocation. */
struct alps_record {
	struct alps_inv inv;
};

/* Timeline event: one stay of a tagged task on a CPU. */
struct alps_stint {
	u64 invocation_id;
	u32 function_id;
	u32 tid;
	u32 cpu;
	u32 reason; /* enum alps_reason */
	u64 runnable_ns;
	u64 switch_in_ns;
	u64 switch_out_ns;
	u64 on_cpu_ns;
};

/* Per-task burst state that enforcement reads (map `watch`, keyed by tid;
 * userspace creates the entry for a task it boosts, with only
 * invocation_id set; the programs keep the rest current). */
struct alps_watch {
	u64 invocation_id;
	u64 burst_start_sum_ns; /* sum_exec_runtime when the current burst began */
	u64 burst_start_ns;     /* wall clock of the same moment */
	u64 bursts;             /* bursts begun since the entry was made */
	u64 last_sum_ns;        /* sum_exec_runtime at the last switch */
	u32 running;            /* on a CPU now */
	u32 sleeping;           /* blocked since its last switch-out (not
				 * runnable: a preempted task is not sleeping) */
};

#endif /* __ALPS_INTF_H */
