// SPDX-License-Identifier: GPL-2.0
/*
 * Per-invocation time accounting for serverless functions.
 *
 * A function invocation is a process tree: the root is tagged at birth
 * (userspace writes `spawners[its own tid]` just before it forks the
 * function), every task the root or its descendants fork joins the same
 * invocation. Each tagged task carries a small state machine in task
 * storage (freed with the task, so a reused pid never inherits it):
 *
 *   RUNNABLE_WAKEUP --switch in--> RUNNING --preempted--> RUNNABLE_PREEMPT
 *        ^                            |  \--slept (reason)--> BLOCKED
 *        +-------------wakeup---------+------------------------+
 *
 * At every transition the time since the previous one is charged: on-CPU
 * time exactly, from the kernel's se.sum_exec_runtime; the rest of the
 * wall-clock interval to the bucket of the state the task was in. Because
 * each interval is charged once, the parts add up to the task's lifetime,
 * and an event that never arrives (a few sched_switch per 10^4 are lost
 * under load) is detected by an impossible transition and repaired: the CPU
 * time still comes from sum_exec_runtime, the unexplained rest goes to
 * other_blocked, and the repair is counted.
 *
 * Per-task sums are merged into the invocation when the task dies; the
 * invocation's record goes to the `records` ring buffer when its last task
 * dies. Stints (one per stay on a CPU) go to the separate `stints` ring
 * buffer when enabled.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "intf.h"

char LICENSE[] SEC("license") = "GPL";

/* Tunables, set by the loader before load. */
const volatile bool stints_enabled = false;
const volatile bool watch_enabled = false;

#define TASK_RUNNING 0x0
#define TASK_UNINTERRUPTIBLE 0x2
#define TASK_DEAD 0x80

/* Ring-buffer events carry no map type; these make their layouts part of
 * the skeleton's generated types (the Rust side decodes with them). */
struct alps_record _record_layout = {};
struct alps_stint _stint_layout = {};

/* Per-task accounting state (never leaves BPF, so not in intf.h). */
struct task_acct {
	u64 invocation_id;
	u32 function_id;
	u32 state;   /* enum alps_task_state */
	u32 reason;  /* enum alps_reason while BLOCKED */
	u32 in_futex;
	u32 is_root;
	s32 exit_code;
	u64 start_ns;
	u64 last_ns;  /* last charged instant */
	u64 last_sum; /* se.sum_exec_runtime at last_ns */
	s64 carry_ns; /* timestamp jitter not yet charged */
	u64 runnable_ns;
	u64 switch_in_ns;
	u64 stint_sum; /* sum_exec_runtime at switch in */
	u64 on_cpu_ns;
	u64 runq_wakeup_ns;
	u64 runq_preempt_ns;
	u64 off_ns[5]; /* indexed by enum alps_reason; [0] unused */
	u64 burst_ns;
	u64 bursts;
	u64 burst_sum_ns;
	u64 max_burst_ns;
	u64 wakeups;
	u64 nvcsw;
	u64 nivcsw;
	u64 block_requests;
	u64 block_bytes;
	u32 new_burst; /* the next switch-in starts a burst */
	u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_acct);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_MAX_SPAWNERS);
	__type(key, u32); /* tid of the spawning thread */
	__type(value, struct alps_tag);
} spawners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_MAX_INVOCATIONS);
	__type(key, u64);
	__type(value, struct alps_inv);
} invocations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_MAX_WATCH);
	__type(key, u32); /* tid */
	__type(value, struct alps_watch);
} watch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct alps_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} stints SEC(".maps");

static __always_inline void count(u32 idx)
{
	u32 zero = 0;
	struct alps_stats *s = bpf_map_lookup_elem(&stats, &zero);

	if (s && idx < ALPS_CNT_NR)
		s->cnt[idx]++;
}

static __always_inline u64 sum_exec(struct task_struct *p)
{
	return BPF_CORE_READ(p, se.sum_exec_runtime);
}

static __always_inline struct task_acct *acct_of(struct task_struct *p)
{
	return bpf_task_storage_get(&tasks, p, 0, 0);
}

/* Add v (signed, with the carried jitter) to an unsigned bucket. */
static __always_inline void charge(struct task_acct *t, u64 *bucket, s64 v)
{
	v += t->carry_ns;
	if (v > 0) {
		*bucket += v;
		t->carry_ns = 0;
	} else {
		t->carry_ns = v;
	}
}

/* Charge the interval [last_ns, now] to the state the task was in. */
static __always_inline void advance(struct task_acct *t, u64 now, u64 sum)
{
	u64 cpu = sum > t->last_sum ? sum - t->last_sum : 0;
	s64 off = (s64)(now - t->last_ns) - (s64)cpu;

	t->on_cpu_ns += cpu;
	t->burst_ns += cpu;
	t->last_ns = now;
	t->last_sum = sum;

	switch (t->state) {
	case ALPS_TS_RUNNING:
		/* Timestamp jitter against sum_exec_runtime (microseconds);
		 * settled with the next waiting interval. */
		t->carry_ns += off;
		break;
	case ALPS_TS_RUNNABLE_WAKEUP:
		charge(t, &t->runq_wakeup_ns, off);
		break;
	case ALPS_TS_RUNNABLE_PREEMPT:
		charge(t, &t->runq_preempt_ns, off);
		break;
	case ALPS_TS_BLOCKED:
		if (t->reason >= ALPS_BLOCK_IO && t->reason <= ALPS_OTHER_BLOCKED)
			charge(t, &t->off_ns[t->reason], off);
		break;
	default:
		break;
	}
}

/* A RUNNING task showed up where it cannot be running: its switch-out was
 * lost. What the interval holds beyond its CPU time has no known reason. */
static __always_inline void repair_lost_switch_out(struct task_acct *t)
{
	if (t->carry_ns > 0) {
		t->off_ns[ALPS_OTHER_BLOCKED] += t->carry_ns;
		t->carry_ns = 0;
	}
	count(ALPS_CNT_LOST_EVENTS);
}

static __always_inline void close_burst(struct task_acct *t)
{
	if (t->burst_ns == 0)
		return;
	t->bursts++;
	t->burst_sum_ns += t->burst_ns;
	if (t->burst_ns > t->max_burst_ns)
		t->max_burst_ns = t->burst_ns;
	t->burst_ns = 0;
}

static __always_inline void init_task(struct task_acct *t, u64 inv, u32 fn, u64 now)
{
	t->invocation_id = inv;
	t->function_id = fn;
	t->state = ALPS_TS_RUNNABLE_WAKEUP;
	t->start_ns = now;
	t->last_ns = now;
	t->last_sum = 0; /* a new task has run for 0 ns */
	t->runnable_ns = now;
	t->new_burst = 1;
}

/* The task is gone: fold its sums into the invocation, emit the record if
 * it was the last one. */
static __always_inline void task_dead(struct task_acct *t, u64 now)
{
	struct alps_inv *inv;
	struct alps_record *rec;
	s64 left;

	close_burst(t);
	t->state = ALPS_TS_DEAD;
	count(ALPS_CNT_EXITS);
	/* Settle the remaining jitter in the interval it belongs to. */
	if (t->carry_ns > 0) {
		t->runq_preempt_ns += t->carry_ns;
		t->carry_ns = 0;
	}

	inv = bpf_map_lookup_elem(&invocations, &t->invocation_id);
	if (!inv)
		return;
	__sync_fetch_and_add(&inv->lifetime_ns, now - t->start_ns);
	__sync_fetch_and_add(&inv->on_cpu_ns, t->on_cpu_ns);
	__sync_fetch_and_add(&inv->runq_wakeup_ns, t->runq_wakeup_ns);
	__sync_fetch_and_add(&inv->runq_preempt_ns, t->runq_preempt_ns);
	__sync_fetch_and_add(&inv->block_io_ns, t->off_ns[ALPS_BLOCK_IO]);
	__sync_fetch_and_add(&inv->futex_ns, t->off_ns[ALPS_FUTEX]);
	__sync_fetch_and_add(&inv->sleep_ns, t->off_ns[ALPS_SLEEP]);
	__sync_fetch_and_add(&inv->other_blocked_ns, t->off_ns[ALPS_OTHER_BLOCKED]);
	__sync_fetch_and_add(&inv->bursts, t->bursts);
	__sync_fetch_and_add(&inv->burst_sum_ns, t->burst_sum_ns);
	__sync_fetch_and_add(&inv->wakeups, t->wakeups);
	__sync_fetch_and_add(&inv->nvcsw, t->nvcsw);
	__sync_fetch_and_add(&inv->nivcsw, t->nivcsw);
	__sync_fetch_and_add(&inv->block_requests, t->block_requests);
	__sync_fetch_and_add(&inv->block_bytes, t->block_bytes);
	/* Racy max: two tasks of one invocation dying at the same instant
	 * may keep the smaller of two maxima. */
	if (t->max_burst_ns > inv->max_burst_ns)
		inv->max_burst_ns = t->max_burst_ns;
	if (t->is_root)
		inv->exit_code = t->exit_code;

	left = __sync_fetch_and_add(&inv->live_tasks, -1);
	if (left != 1)
		return;

	inv->end_ns = now;
	rec = bpf_ringbuf_reserve(&records, sizeof(*rec), 0);
	if (rec) {
		__builtin_memcpy(&rec->inv, inv, sizeof(*inv));
		bpf_ringbuf_submit(rec, 0);
		count(ALPS_CNT_RECORDS);
		bpf_map_delete_elem(&invocations, &t->invocation_id);
	} else {
		/* Kept in the map: userspace collects it by id. */
		count(ALPS_CNT_RECORDS_DROPPED);
	}
}

static __always_inline void emit_stint(struct task_acct *t, struct task_struct *p,
				       u64 now, u64 sum, u32 reason)
{
	struct alps_stint *s;

	if (!stints_enabled || !t->switch_in_ns)
		return;
	s = bpf_ringbuf_reserve(&stints, sizeof(*s), 0);
	if (!s) {
		count(ALPS_CNT_STINTS_DROPPED);
		return;
	}
	s->invocation_id = t->invocation_id;
	s->function_id = t->function_id;
	s->tid = BPF_CORE_READ(p, pid);
	s->cpu = bpf_get_smp_processor_id();
	s->reason = reason;
	s->runnable_ns = t->runnable_ns;
	s->switch_in_ns = t->switch_in_ns;
	s->switch_out_ns = now;
	s->on_cpu_ns = sum > t->stint_sum ? sum - t->stint_sum : 0;
	bpf_ringbuf_submit(s, 0);
	count(ALPS_CNT_STINTS);
}

static __always_inline void switch_out(struct task_acct *t, struct task_struct *prev,
				       bool preempt, unsigned int prev_state, u64 now)
{
	u64 sum;
	u32 reason;

	if (!t || t->state == ALPS_TS_DEAD)
		return;
	count(ALPS_CNT_SWITCHES);
	if (t->state != ALPS_TS_RUNNING)
		count(ALPS_CNT_LOST_EVENTS); /* its switch-in was lost */
	sum = sum_exec(prev);
	advance(t, now, sum);

	bool involuntary = preempt || prev_state == TASK_RUNNING;

	if (involuntary)
		reason = ALPS_PREEMPTED;
	else if (prev_state & TASK_DEAD)
		reason = ALPS_EXIT;
	else if (BPF_CORE_READ_BITFIELD_PROBED(prev, in_iowait))
		reason = ALPS_BLOCK_IO;
	else if (t->in_futex)
		reason = ALPS_FUTEX;
	else if (prev_state & TASK_UNINTERRUPTIBLE)
		reason = ALPS_OTHER_BLOCKED;
	else
		reason = ALPS_SLEEP;
	/* The stint ends here: emit it before the state moves on. */
	emit_stint(t, prev, now, sum, reason);

	if (involuntary) {
		t->nivcsw++;
		t->state = ALPS_TS_RUNNABLE_PREEMPT;
		t->runnable_ns = now;
	} else {
		t->nvcsw++;
		t->state = ALPS_TS_BLOCKED;
		t->reason = reason;
		close_burst(t);
		t->new_burst = 1;
	}
	t->switch_in_ns = 0;
	if (watch_enabled) {
		u32 tid = BPF_CORE_READ(prev, pid);
		struct alps_watch *w = bpf_map_lookup_elem(&watch, &tid);

		if (w && w->invocation_id == t->invocation_id) {
			w->last_sum_ns = sum;
			w->running = 0;
			w->sleeping = !involuntary;
		}
	}
	if (reason == ALPS_EXIT)
		task_dead(t, now);
}

static __always_inline void switch_in(struct task_acct *t, struct task_struct *next, u64 now)
{
	struct alps_watch *w;
	u32 tid;
	u64 sum;

	if (!t || t->state == ALPS_TS_DEAD)
		return;
	sum = sum_exec(next);
	if (t->state == ALPS_TS_RUNNING) {
		advance(t, now, sum);
		repair_lost_switch_out(t);
	} else {
		if (t->state == ALPS_TS_BLOCKED)
			count(ALPS_CNT_LOST_EVENTS); /* its wakeup was lost */
		advance(t, now, sum);
	}
	t->state = ALPS_TS_RUNNING;
	t->switch_in_ns = now;
	t->stint_sum = sum;

	if (watch_enabled) {
		tid = BPF_CORE_READ(next, pid);
		w = bpf_map_lookup_elem(&watch, &tid);
		if (w && w->invocation_id == t->invocation_id) {
			if (t->new_burst) {
				w->burst_start_sum_ns = sum;
				w->burst_start_ns = now;
				w->bursts++;
			}
			w->last_sum_ns = sum;
			w->running = 1;
			w->sleeping = 0;
		}
	}
	t->new_burst = 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	/* Most switches involve no tagged task: look up first, read the
	 * clock only when needed. */
	struct task_acct *tp = acct_of(prev), *tn = acct_of(next);
	u64 now;

	if (!tp) {
		if (!tn)
			return 0;
		switch_in(tn, next, bpf_ktime_get_ns());
		return 0;
	}
	now = bpf_ktime_get_ns();
	switch_out(tp, prev, preempt, prev_state, now);
	if (tn)
		switch_in(tn, next, now);
	return 0;
}

static __always_inline void wakeup(struct task_struct *p)
{
	struct task_acct *t = acct_of(p);
	u64 now;

	/* A wakeup of a task we see as running or runnable is a wakeup that
	 * raced with its own sleep (ttwu_runnable): nothing to charge. */
	if (!t || t->state != ALPS_TS_BLOCKED)
		return;
	now = bpf_ktime_get_ns();
	advance(t, now, sum_exec(p));
	t->state = ALPS_TS_RUNNABLE_WAKEUP;
	t->runnable_ns = now;
	t->wakeups++;
	count(ALPS_CNT_WAKEUPS);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	wakeup(p);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_acct *pt = acct_of(parent), *ct;
	struct alps_inv *inv, fresh = {};
	struct alps_tag *tag;
	u64 now = bpf_ktime_get_ns();
	u64 inv_id;
	u32 fn, ptid;
	bool root = false;

	if (pt && pt->state != ALPS_TS_DEAD) {
		inv_id = pt->invocation_id;
		fn = pt->function_id;
	} else {
		ptid = BPF_CORE_READ(parent, pid);
		tag = bpf_map_lookup_elem(&spawners, &ptid);
		if (!tag)
			return 0;
		inv_id = tag->invocation_id;
		fn = tag->function_id;
		fresh.invocation_id = inv_id;
		fresh.function_id = fn;
		fresh.start_ns = now;
		if (bpf_map_update_elem(&invocations, &inv_id, &fresh, BPF_NOEXIST)) {
			count(ALPS_CNT_MAP_FULL);
			return 0;
		}
		root = true;
	}

	inv = bpf_map_lookup_elem(&invocations, &inv_id);
	if (!inv)
		return 0;
	ct = bpf_task_storage_get(&tasks, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ct) {
		count(ALPS_CNT_MAP_FULL);
		return 0;
	}
	init_task(ct, inv_id, fn, now);
	ct->is_root = root;
	__sync_fetch_and_add(&inv->live_tasks, 1);
	__sync_fetch_and_add(&inv->threads, 1);
	count(ALPS_CNT_FORKS);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	struct task_acct *t = acct_of(p);

	if (t)
		t->exit_code = BPF_CORE_READ(p, exit_code);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(on_block_issue, struct request *rq)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct task_acct *t = acct_of(cur);

	if (!t)
		return 0;
	t->block_requests++;
	t->block_bytes += BPF_CORE_READ(rq, __data_len);
	return 0;
}

static __always_inline void futex_mark(u32 in)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct task_acct *t = acct_of(cur);

	if (t)
		t->in_futex = in;
}

SEC("tracepoint/syscalls/sys_enter_futex")
int on_futex_enter(struct trace_event_raw_sys_enter *ctx)
{
	futex_mark(1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex")
int on_futex_exit(struct trace_event_raw_sys_exit *ctx)
{
	futex_mark(0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_futex_waitv")
int on_futex_waitv_enter(struct trace_event_raw_sys_enter *ctx)
{
	futex_mark(1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex_waitv")
int on_futex_waitv_exit(struct trace_event_raw_sys_exit *ctx)
{
	futex_mark(0);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	struct task_acct *t = acct_of(p);

	/* Created runnable at fork; the first wait starts now. */
	if (t && t->state == ALPS_TS_RUNNABLE_WAKEUP)
		t->runnable_ns = bpf_ktime_get_ns();
	return 0;
}
