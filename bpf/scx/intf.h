/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one contract between the ALPS sched_ext scheduler (alps.bpf.c) and
 * Rust (policy/src/backend/scx.rs). Map keys and values, the control block
 * and counter indices are declared here; libbpf-cargo generates the Rust
 * bindings from the compiled object.
 */
#ifndef __ALPS_SCX_INTF_H
#define __ALPS_SCX_INTF_H

#ifndef __VMLINUX_H__
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
#endif

#define ALPS_SCX_MAX_TASKS 65536
#define ALPS_SCX_MAX_FNS 4096
#define ALPS_SCX_MAX_CPUS 256

/* Dispatch queues the scheduler creates. */
#define ALPS_SCX_DSQ 0       /* every runnable task, keyed by (rank, vtime) */
#define ALPS_SCX_STALL_DSQ 1 /* the forced-stall test's task: never consumed */

/* Indices of the per-CPU counters (struct alps_scx_stats). */
enum alps_scx_counter {
	ALPS_SCX_CNT_DIRECT_IDLE = 0, /* select_cpu found an idle CPU: straight to its local DSQ */
	ALPS_SCX_CNT_ENQ_TAGGED,      /* a tagged task queued in the shared DSQ */
	ALPS_SCX_CNT_ENQ_UNTAGGED,    /* an untagged task queued in the shared DSQ */
	ALPS_SCX_CNT_DISPATCH_SHARED, /* dispatch moved a task from the shared DSQ */
	ALPS_SCX_CNT_DISPATCH_EMPTY,  /* dispatch found nothing (CPU goes idle or keeps prev) */
	ALPS_SCX_CNT_SLICE_LEARNED,   /* a tagged task picked with its function's learned slice */
	ALPS_SCX_CNT_SLICE_EXTENDED,  /* ... and that slice is longer than the default */
	ALPS_SCX_CNT_SLICE_DEFAULT,   /* picked with the default slice */
	ALPS_SCX_CNT_DEMOTIONS,       /* learned slice used up while still runnable: back to (rank, vtime) order */
	ALPS_SCX_CNT_PREEMPT_KICKS,   /* a woken task preempted a CPU (kick) */
	ALPS_SCX_CNT_PREEMPT_DENIED,  /* ... would have, but its function's budget was spent */
	ALPS_SCX_CNT_PREEMPT_PROTECTED, /* ... would have, but every candidate is inside its slice */
	ALPS_SCX_CNT_TAGGED_FORKS,    /* children that inherited their parent's function */
	ALPS_SCX_CNT_STALLED,         /* tasks parked in the stall DSQ (test only) */
	ALPS_SCX_CNT_TAG_FULL,        /* task_fn full: a child not tagged */
	ALPS_SCX_CNT_NR,
};

struct alps_scx_stats {
	u64 cnt[ALPS_SCX_CNT_NR];
};

/* Map `task_fn`, keyed by tid: which function a task runs. Userspace writes
 * the root's entry when an invocation starts; the scheduler tags children
 * at fork and deletes every entry when the task exits. */
struct alps_scx_tag {
	u64 invocation_id;
	u32 function_id;
	u32 pad;
};

/* Map `fn_policy`, keyed by function id: the learned policy, updated by the
 * learner without reloading. A function without an entry has rank 0 (the
 * highest, as in ALPS' entity_before hook) and the default slice. */
struct alps_scx_fn {
	u32 rank;                        /* 1 = highest */
	u32 wakeup_preempt_budget_per_s; /* 0 = none, 0xffffffff = unlimited */
	u64 slice_ns;                    /* 0 = default slice */
	u64 burst_ns;                    /* learned CPU burst (informational) */
	u64 cpu_demand_ns;               /* learned CPU demand (informational) */
};

/* Map `ctl` (one entry): run-time controls. */
struct alps_scx_ctl {
	u64 rank_gap_ns;      /* vtime handicap per rank step (bounds starvation under the watchdog) */
	u64 wakeup_gran_ns;   /* plain wakeup preemption: woken vtime this far below the running one's */
	u32 rank_preempt;     /* ALPS-IO: a woken task also preempts a lower rank */
	u32 stall_fn;         /* test: tasks of this function are never dispatched (0 = off) */
};

/* Per-CPU view of what runs there (map `cpu_state`, indexed by CPU). */
struct alps_scx_cpu {
	u64 vtime;          /* running task's vtime */
	u64 protect_until;  /* ns: inside its learned slice until then */
	u32 rank;
	u32 busy;
};

#endif /* __ALPS_SCX_INTF_H */
