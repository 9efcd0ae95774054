// SPDX-License-Identifier: GPL-2.0
/*
 * The ALPS hooks as a sched_ext scheduler.
 *
 * ALPS (ATC'24) patches CFS with two hooks; here they become one shared,
 * vtime-ordered dispatch queue and the per-task slice:
 *
 * - Ordering hook (entity_before): runnable tasks are ordered by their
 *   function's rank (1 = highest; a task without a function entry has rank
 *   0, the highest, as in ALPS), ties by vruntime. The DSQ key is
 *   vtime + rank * rank_gap_ns: with a large gap the order is strictly by
 *   rank; the gap bounds how long a low rank can wait behind a higher one,
 *   which sched_ext needs (a runnable task that waits longer than the
 *   watchdog timeout aborts the scheduler).
 * - Slice hook (__schedule): a tagged task is picked with its function's
 *   learned slice and is not preempted before it has used it; then it goes
 *   back to (rank, vtime) order (a "demotion" when it is still runnable).
 *   Untagged tasks and functions without a slice get the default slice.
 * - Wakeup preemption: a woken task kicks the CPU running the worst task
 *   that is outside its learned slice when its vruntime is more than
 *   wakeup_gran_ns below that task's (plain CFS rule) or, with the ALPS-IO
 *   switch rank_preempt, when its rank is higher. A tagged function's kicks
 *   are rationed by its wakeup_preempt_budget_per_s.
 *
 * Tasks are tagged through the hash map task_fn (tid -> function): the
 * loader writes the root of each invocation, children inherit the entry at
 * fork, and the entry goes when the task exits. Policy (fn_policy) and
 * controls (ctl) are maps that userspace updates while the scheduler runs.
 */
#include <scx/common.bpf.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile u32 nr_cpus = 1;

/* Exit information, read by the loader after the scheduler is gone. */
struct user_exit_info uei SEC(".data");

/* The highest vtime of any task that started running (the fair clock). */
static u64 vtime_now;

/* Per-task scheduling state (BPF only). */
struct task_ctx {
	u64 vtime;
	u64 run_start;
	u64 given_slice;
	u32 learned; /* picked with its function's learned slice */
	u32 pad;
};

/* Wakeup preemptions of one function in the current second (BPF only). */
struct fn_budget {
	u64 window_start;
	u64 used;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_SCX_MAX_TASKS);
	__type(key, u32); /* tid */
	__type(value, struct alps_scx_tag);
} task_fn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_SCX_MAX_FNS);
	__type(key, u32); /* function id */
	__type(value, struct alps_scx_fn);
} fn_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALPS_SCX_MAX_FNS);
	__type(key, u32);
	__type(value, struct fn_budget);
} fn_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct alps_scx_ctl);
} ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ALPS_SCX_MAX_CPUS);
	__type(key, u32);
	__type(value, struct alps_scx_cpu);
} cpu_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct alps_scx_stats);
} stats SEC(".maps");

/* What the scheduler knows about a task's function. */
struct pol {
	u32 fn;
	u32 tagged;
	u32 rank;
	u32 budget;
	u64 slice;
};

static __always_inline void count(u32 idx)
{
	u32 zero = 0;
	struct alps_scx_stats *s = bpf_map_lookup_elem(&stats, &zero);

	if (s && idx < ALPS_SCX_CNT_NR)
		s->cnt[idx]++;
}

static __always_inline struct alps_scx_ctl *ctl_get(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&ctl, &zero);
}

static __always_inline void policy_of(struct task_struct *p, struct pol *o)
{
	u32 tid = p->pid;
	struct alps_scx_tag *tag;
	struct alps_scx_fn *fp;

	o->fn = 0;
	o->tagged = 0;
	o->rank = 0;
	o->budget = 0xffffffff;
	o->slice = 0;
	tag = bpf_map_lookup_elem(&task_fn, &tid);
	if (!tag)
		return;
	o->tagged = 1;
	o->fn = tag->function_id;
	fp = bpf_map_lookup_elem(&fn_policy, &o->fn);
	if (!fp)
		return;
	o->rank = fp->rank;
	o->budget = fp->wakeup_preempt_budget_per_s;
	o->slice = fp->slice_ns;
}

static __always_inline bool before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

/* Spend one wakeup preemption of function fn if its budget allows. */
static __always_inline bool take_budget(u32 fn, u32 budget, u64 now)
{
	struct fn_budget *b, fresh = { .window_start = now, .used = 0 };

	if (budget == 0xffffffff)
		return true;
	if (budget == 0)
		return false;
	b = bpf_map_lookup_elem(&fn_budget, &fn);
	if (!b) {
		bpf_map_update_elem(&fn_budget, &fn, &fresh, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&fn_budget, &fn);
		if (!b)
			return true;
	}
	if (now - b->window_start >= 1000000000ULL) {
		b->window_start = now;
		b->used = 0;
	}
	if (b->used >= budget)
		return false;
	__sync_fetch_and_add(&b->used, 1);
	return true;
}

/* A task woke up with no idle CPU: preempt the worst preemptible CPU. */
static __always_inline void maybe_preempt(struct pol *po, u64 vtime,
					  struct alps_scx_ctl *c)
{
	u64 now = bpf_ktime_get_ns(), worst = 0;
	bool protected_seen = false;
	s32 victim = -1;
	u32 i;

	for (i = 0; i < ALPS_SCX_MAX_CPUS; i++) {
		struct alps_scx_cpu *s;
		bool beats;
		u64 key;

		if (i >= nr_cpus)
			break;
		s = bpf_map_lookup_elem(&cpu_state, &i);
		if (!s || !s->busy)
			continue;
		beats = vtime + c->wakeup_gran_ns < s->vtime ||
			(c->rank_preempt && po->rank < s->rank);
		if (!beats)
			continue;
		if (now < s->protect_until) {
			protected_seen = true;
			continue;
		}
		key = s->vtime + (u64)s->rank * c->rank_gap_ns;
		if (victim < 0 || key > worst) {
			victim = i;
			worst = key;
		}
	}
	if (victim < 0) {
		if (protected_seen)
			count(ALPS_SCX_CNT_PREEMPT_PROTECTED);
		return;
	}
	if (po->tagged && !take_budget(po->fn, po->budget, now)) {
		count(ALPS_SCX_CNT_PREEMPT_DENIED);
		return;
	}
	scx_bpf_kick_cpu(victim, SCX_KICK_PREEMPT);
	count(ALPS_SCX_CNT_PREEMPT_KICKS);
}

static __always_inline bool stalled(struct pol *po, struct alps_scx_ctl *c)
{
	return c && c->stall_fn && po->tagged && po->fn == c->stall_fn;
}

s32 BPF_STRUCT_OPS(alps_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	struct alps_scx_ctl *c = ctl_get();
	bool is_idle = false;
	struct pol po;
	s32 cpu;

	policy_of(p, &po);
	if (stalled(&po, c))
		return prev_cpu;
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
		count(ALPS_SCX_CNT_DIRECT_IDLE);
	}
	return cpu;
}

void BPF_STRUCT_OPS(alps_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct alps_scx_ctl *c = ctl_get();
	struct task_ctx *tc;
	u64 vtime, floor;
	struct pol po;

	tc = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	if (!tc || !c) {
		scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
		return;
	}
	policy_of(p, &po);
	if (stalled(&po, c)) {
		scx_bpf_dsq_insert(p, ALPS_SCX_STALL_DSQ, SCX_SLICE_DFL, enq_flags);
		count(ALPS_SCX_CNT_STALLED);
		return;
	}
	/* Sleep credit is at most one default slice, as in scx_simple. */
	vtime = tc->vtime;
	floor = vtime_now > SCX_SLICE_DFL ? vtime_now - SCX_SLICE_DFL : 0;
	if (before(vtime, floor))
		vtime = floor;
	tc->vtime = vtime;
	scx_bpf_dsq_insert_vtime(p, ALPS_SCX_DSQ, SCX_SLICE_DFL,
				 vtime + (u64)po.rank * c->rank_gap_ns, enq_flags);
	count(po.tagged ? ALPS_SCX_CNT_ENQ_TAGGED : ALPS_SCX_CNT_ENQ_UNTAGGED);
	if (enq_flags & SCX_ENQ_WAKEUP)
		maybe_preempt(&po, vtime, c);
}

void BPF_STRUCT_OPS(alps_dispatch, s32 cpu, struct task_struct *prev)
{
	if (scx_bpf_dsq_move_to_local(ALPS_SCX_DSQ, 0))
		count(ALPS_SCX_CNT_DISPATCH_SHARED);
	else
		count(ALPS_SCX_CNT_DISPATCH_EMPTY);
}

void BPF_STRUCT_OPS(alps_running, struct task_struct *p)
{
	struct task_ctx *tc = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	u64 now = bpf_ktime_get_ns(), slice = SCX_SLICE_DFL;
	struct alps_scx_cpu *s;
	struct pol po;
	u32 cpu;

	if (!tc)
		return;
	policy_of(p, &po);
	if (before(vtime_now, tc->vtime))
		vtime_now = tc->vtime;
	tc->learned = 0;
	if (po.tagged && po.slice > 0) {
		slice = po.slice;
		tc->learned = 1;
		count(ALPS_SCX_CNT_SLICE_LEARNED);
		if (slice > SCX_SLICE_DFL)
			count(ALPS_SCX_CNT_SLICE_EXTENDED);
	} else {
		count(ALPS_SCX_CNT_SLICE_DEFAULT);
	}
	scx_bpf_task_set_slice(p, slice);
	tc->given_slice = slice;
	tc->run_start = now;
	cpu = scx_bpf_task_cpu(p);
	s = bpf_map_lookup_elem(&cpu_state, &cpu);
	if (s) {
		s->vtime = tc->vtime;
		s->rank = po.rank;
		s->protect_until = tc->learned ? now + slice : 0;
		s->busy = 1;
	}
}

void BPF_STRUCT_OPS(alps_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tc = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	u64 now = bpf_ktime_get_ns(), used;
	struct alps_scx_cpu *s;
	u32 cpu, weight;

	if (!tc)
		return;
	used = tc->run_start && now > tc->run_start ? now - tc->run_start : 0;
	weight = p->scx.weight ? p->scx.weight : 100;
	tc->vtime += used * 100 / weight;
	if (tc->learned && runnable && p->scx.slice == 0)
		count(ALPS_SCX_CNT_DEMOTIONS);
	tc->learned = 0;
	cpu = scx_bpf_task_cpu(p);
	s = bpf_map_lookup_elem(&cpu_state, &cpu);
	if (s) {
		s->busy = 0;
		s->protect_until = 0;
	}
}

void BPF_STRUCT_OPS(alps_enable, struct task_struct *p)
{
	struct task_ctx *tc = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	if (tc)
		tc->vtime = vtime_now;
}

s32 BPF_STRUCT_OPS(alps_init_task, struct task_struct *p,
		   struct scx_init_task_args *args)
{
	struct alps_scx_tag *parent;
	u32 me, child;

	if (!bpf_task_storage_get(&task_ctxs, p, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		return -ENOMEM;
	if (!args->fork)
		return 0;
	/* At fork the current task is the parent: children inherit its tag. */
	me = bpf_get_current_task_btf()->pid;
	parent = bpf_map_lookup_elem(&task_fn, &me);
	if (!parent)
		return 0;
	child = p->pid;
	if (bpf_map_update_elem(&task_fn, &child, parent, BPF_ANY))
		count(ALPS_SCX_CNT_TAG_FULL);
	else
		count(ALPS_SCX_CNT_TAGGED_FORKS);
	return 0;
}

void BPF_STRUCT_OPS(alps_exit_task, struct task_struct *p,
		    struct scx_exit_task_args *args)
{
	u32 tid = p->pid;

	/* Only a dead task's entry goes: at unload every task passes here. */
	if (p->flags & PF_EXITING)
		bpf_map_delete_elem(&task_fn, &tid);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(alps_init)
{
	s32 ret = scx_bpf_create_dsq(ALPS_SCX_DSQ, -1);

	if (ret)
		return ret;
	return scx_bpf_create_dsq(ALPS_SCX_STALL_DSQ, -1);
}

void BPF_STRUCT_OPS(alps_exit, struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(uei.reason, sizeof(uei.reason), ei->reason);
	bpf_probe_read_kernel_str(uei.msg, sizeof(uei.msg), ei->msg);
	uei.exit_code = ei->exit_code;
	/* kind last, with a full barrier: userspace polls it. */
	__sync_val_compare_and_swap(&uei.kind, uei.kind, ei->kind);
}

SCX_OPS_DEFINE(alps_ops,
	       .select_cpu = (void *)alps_select_cpu,
	       .enqueue = (void *)alps_enqueue,
	       .dispatch = (void *)alps_dispatch,
	       .running = (void *)alps_running,
	       .stopping = (void *)alps_stopping,
	       .enable = (void *)alps_enable,
	       .init_task = (void *)alps_init_task,
	       .exit_task = (void *)alps_exit_task,
	       .init = (void *)alps_init,
	       .exit = (void *)alps_exit,
	       .timeout_ms = 5000,
	       .name = "alps");
