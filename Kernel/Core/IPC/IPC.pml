/*
 * The IPC state machine of IPC.swift (send, call, wait, reply, reply-wait, saved replies, faults,
 * timeouts, stop/start, and destroy of a thread or endpoint), modelled for Spin. Checked by
 * `swiftlet check-models` and by ModelCheckTests in `swiftlet test` (see README, "Model checking").
 *
 * What is modelled, field by field as Thread.swift / ThreadQueue.swift have it:
 *   st[t]      Thread.state (ready and running are one state, RUN: the scheduler only picks who runs
 *              next, and every interleaving of the thread processes covers every choice it can make)
 *   qon[t]     Thread.queuedOn; the endpoint's senders/receivers queues are FIFO arrays
 *   tmo[t]     Thread.inTimeoutList (a finite timeout); expiry is nondeterministic: the Timer process
 *              of a thread may fire whenever the thread is in the list (IPC.expire -> cancel(.timeout))
 *   caller[t]  Thread.caller, callee[t] Thread.callee, calls[t] Thread.callCount
 *   saved[t]   the reply capability `saveCaller` put in t's capability space (one slot): the caller it
 *              names and its badge, the call number (savedNum[t])
 * Messages, badges, capability items and priorities are not modelled: they do not change who is
 * linked to whom. The fast path (FastPath.swift) makes exactly the transitions of `call` with a waiting
 * receiver and `replyWait` with a waiting caller, so it needs no transitions of its own.
 *
 * Destroy (the semantics of issue 12): destroying a thread takes it out of its queue and the timeout
 * list, revokes the reply capabilities that name it (a server replying to it then gets noCaller),
 * aborts every thread waiting for its reply (its current caller, callers it saved or dropped), and
 * clears the link of the thread it was calling. Destroying an endpoint wakes every thread queued on it
 * with `aborted`; later operations on it fail (its capabilities are revoked).
 *
 * Bounds: 3 threads, 1 endpoint, at most 2 calls (or faults) per thread, at most 3 stops, starts and
 * destroys in all (at most 2 destroys). 3 threads are what the
 * interesting cases need (a server with a current and a saved caller; two senders queued behind each
 * other; a destroy while a third thread holds a link to the victim). One endpoint suffices because
 * threads meet only through one endpoint at a time (each is in at most one queue), and the links
 * between threads (caller/callee/saved) are what destroy must clean up. The call bound keeps the call
 * numbers from wrapping (the kernel's 2^56 numbers do not wrap in practice either).
 *
 * Properties (checked after every step, see audit()):
 *   no dangling reference: no thread's queuedOn/caller/callee/saved reply names a destroyed object;
 *   no lost wake-up: a blocked thread can still be woken: a sender/receiver is in the queue of a live
 *     endpoint (and never while the opposite queue is non-empty), a thread waiting for a reply has a
 *     live callee that can still answer it (holds it as caller, or a reply capability with its call
 *     number), unless that server itself dropped it (a plain wait over an unanswered call: the
 *     server's choice, like never replying);
 *   a saved reply answers only the call it was saved for;
 *   timeouts: a thread blocked with a finite timeout always eventually leaves that state (LTL
 *     `timeouts_expire`, weak fairness);
 *   the only end states are the intended ones (the `timeout` monitor): every thread dead, stopped,
 *     blocked with an infinite timeout on a live endpoint, or waiting for a reply from a live thread.
 *
 * Broken variants (each must be caught; see ModelCheckTests):
 *   -DBUG_DETACH_CLEARS_ANY_CALLER  detach as it was: clears the callee's caller link even when the
 *                                   callee's current caller is another thread
 *   -DBUG_DESTROY_AS_DETACH         destroy aborts only the current caller, not saved ones
 *   -DBUG_NO_CALL_NUMBER            replySaved without the call-number check
 *   -DBUG_WAIT_DROPS_SENDER_WAKEUP  wait takes a queued plain sender without waking it
 *   -DBUG_SAVED_REPLY_IGNORES_FAULTS replySaved as it was: only for `.waitingForReply`, so a handler that
 *                                   saved a fault could never resume the faulted thread
 */

#define NT 3
#define NONE 255
#define MAXCALLS 2
#define MAXDESTROY 2
#define MAXENV 3

/* Thread states (ThreadState) */
#define RUN 0
#define SEND 1
#define CALLSEND 2
#define RECV 3
#define WAITREPLY 4
#define FAULTED 5
#define STOPPED 6
#define DEAD 7

/* System call results (SyscallError) */
#define OK 0
#define ETIMEOUT 1
#define EABORTED 2
#define ENOCALLER 3
#define EINVALID 4

/* Timeouts */
#define ZERO 0
#define FINITE 1
#define INFINITE 2

byte st[NT];    /* RUN = 0: every thread starts runnable */
byte qon[NT] = NONE, caller[NT] = NONE, callee[NT] = NONE, saved[NT] = NONE;
byte calls[NT], res[NT], savedNum[NT];
bool tmo[NT], dropped[NT];
bool epDead;
byte sq[NT] = NONE, slen, rq[NT] = NONE, rlen;
byte destroys, actions;
hidden byte lost, dangling;
hidden byte i, j, k, found;

#define blockedOnQueue(t) (st[t] == SEND || st[t] == CALLSEND || st[t] == RECV || (st[t] == FAULTED && callee[t] == NONE))
#define live(t) (t != NONE && st[t] != DEAD)

/* ThreadQueue.remove: unlink t from the senders (sq, slen) or receivers (rq, rlen), which hold it. */
inline sqRemove(t) {
    k = 0;
    do
    :: sq[k] == t -> break
    :: else -> k++
    od;
    do
    :: k + 1 < slen -> sq[k] = sq[k + 1]; k++
    :: else -> break
    od;
    slen--;
    sq[slen] = NONE
}

inline rqRemove(t) {
    k = 0;
    do
    :: rq[k] == t -> break
    :: else -> k++
    od;
    do
    :: k + 1 < rlen -> rq[k] = rq[k + 1]; k++
    :: else -> break
    od;
    rlen--;
    rq[rlen] = NONE
}

/* Scheduler.wake: out of the timeout list, runnable. */
inline wake(t) { tmo[t] = false; st[t] = RUN }

/* Takes t out of the endpoint queue it waits in (the first half of IPC.cancel and IPC.detach). */
inline unqueue(t) {
    if
    :: qon[t] != NONE ->
        if
        :: st[t] == SEND || st[t] == CALLSEND || st[t] == FAULTED -> sqRemove(t)
        :: st[t] == RECV -> rqRemove(t)
        :: else -> skip
        fi;
        qon[t] = NONE
    :: else -> skip
    fi
}

/* IPC.cancel: ends the IPC t is blocked in with err and makes it runnable (a faulted thread keeps its registers). */
inline cancel(t, err) {
    unqueue(t);
    if :: st[t] != FAULTED -> res[t] = err :: else -> skip fi;
    wake(t)
}

/* The caller link of IPC.send / IPC.wait: c called (or faulted to) s, whose message s received. */
inline link(c, s) {
    /* A caller link s still held is overwritten: s dropped that call (its choice, like never replying). */
    if :: caller[s] != NONE && caller[s] != c -> dropped[caller[s]] = true :: else -> skip fi;
    callee[c] = s; caller[s] = c; dropped[c] = false
}

/* IPC.send: me sends (call: and waits for the reply) on the endpoint. */
inline send(me, call, limit) {
    if
    :: epDead -> res[me] = EINVALID
    :: !epDead && rlen > 0 ->
        found = rq[0]; rqRemove(found); qon[found] = NONE;
        res[found] = OK; res[me] = OK;
        if
        :: call -> st[me] = WAITREPLY; calls[me]++; link(me, found); tmo[found] = false; st[found] = RUN
        :: else -> wake(found)
        fi
    :: !epDead && rlen == 0 && limit == ZERO -> res[me] = ETIMEOUT
    :: !epDead && rlen == 0 && limit != ZERO ->
        st[me] = (call -> CALLSEND : SEND); qon[me] = 0; sq[slen] = me; slen++; tmo[me] = (limit == FINITE)
    fi
}

/* IPC.sendFault: me faulted; its handler gets the fault as a call, without a timeout. */
inline fault(me) {
    if
    :: epDead -> skip    /* no handler: the kernel stops the thread instead (not an IPC transition) */
    :: !epDead && rlen > 0 ->
        st[me] = FAULTED; calls[me]++;
        found = rq[0]; rqRemove(found); qon[found] = NONE; res[found] = OK;
        link(me, found); tmo[found] = false; st[found] = RUN
    :: !epDead && rlen == 0 -> st[me] = FAULTED; calls[me]++; qon[me] = 0; sq[slen] = me; slen++
    fi
}

/* IPC.wait: me waits on the endpoint. */
inline wait(me, limit) {
    if
    :: epDead -> res[me] = EINVALID
    :: !epDead && slen > 0 ->
        found = sq[0]; sqRemove(found); qon[found] = NONE; tmo[found] = false;
        res[me] = OK;
        if
        :: st[found] == CALLSEND -> st[found] = WAITREPLY; calls[found]++; link(found, me)
        :: st[found] == FAULTED -> link(found, me)
        :: else ->
#ifndef BUG_WAIT_DROPS_SENDER_WAKEUP
            res[found] = OK; wake(found)
#else
            skip
#endif
        fi
    :: !epDead && slen == 0 && limit == ZERO -> res[me] = ETIMEOUT
    :: !epDead && slen == 0 && limit != ZERO ->
        st[me] = RECV; qon[me] = 0; rq[rlen] = me; rlen++; tmo[me] = (limit == FINITE)
    fi
}

/* IPC.answer: the reply reaches c, which runs again. */
inline answer(c) { callee[c] = NONE; if :: st[c] != FAULTED -> res[c] = OK :: else -> skip fi; wake(c) }

/* IPC.reply */
inline reply(me) {
    if
    :: caller[me] == NONE -> res[me] = ENOCALLER
    :: else -> found = caller[me]; caller[me] = NONE; answer(found); res[me] = OK
    fi
}

/* saveCaller (Syscalls.capabilityControl): the current caller becomes a reply capability. */
inline saveCaller(me) {
    if
    :: caller[me] == NONE -> res[me] = ENOCALLER
    :: caller[me] != NONE && saved[me] != NONE -> res[me] = EINVALID    /* the slot is occupied */
    :: caller[me] != NONE && saved[me] == NONE ->
        saved[me] = caller[me]; savedNum[me] = calls[caller[me]]; caller[me] = NONE; res[me] = OK
    fi
}

/* Syscalls.replyThroughCapability + IPC.replySaved: the capability is deleted, then used once. */
inline replySaved(me) {
    if
    :: saved[me] == NONE -> res[me] = ENOCALLER    /* never saved, or revoked when its caller was destroyed */
    :: else ->
        found = saved[me]; saved[me] = NONE;
        if
#if defined(BUG_NO_CALL_NUMBER)
        :: (st[found] == WAITREPLY || st[found] == FAULTED) && callee[found] == me ->
#elif defined(BUG_SAVED_REPLY_IGNORES_FAULTS)
        :: st[found] == WAITREPLY && callee[found] == me && calls[found] == savedNum[me] ->
#else
        :: (st[found] == WAITREPLY || st[found] == FAULTED) && callee[found] == me && calls[found] == savedNum[me] ->
#endif
            /* a saved reply answers only the call it was saved for */
            assert(calls[found] == savedNum[me]);
            answer(found); res[me] = OK
        :: else -> res[me] = ENOCALLER
        fi
    fi
}

/* IPC.replyWait: reply to the caller, if any, then wait (both branches of the Swift code end alike). */
inline replyWait(me, limit) {
    if
    :: caller[me] != NONE -> reply(me)
    :: else -> skip
    fi;
    wait(me, limit)
}

/* IPC.detach: out of every IPC relation, without becoming runnable. */
inline detach(t) {
    unqueue(t);
    tmo[t] = false;
    if
    :: callee[t] != NONE ->
#ifndef BUG_DETACH_CLEARS_ANY_CALLER
        if :: caller[callee[t]] == t -> caller[callee[t]] = NONE :: else -> skip fi;
#else
        caller[callee[t]] = NONE;
#endif
        callee[t] = NONE
    :: else -> skip
    fi;
    if
    :: caller[t] != NONE -> found = caller[t]; caller[t] = NONE; callee[found] = NONE; cancel(found, EABORTED)
    :: else -> skip
    fi
}

/* IPC.stop */
inline stop(t) { detach(t); st[t] = STOPPED }

/* Destroy a thread (issue 12): detach, revoke the reply capabilities naming it and abort every thread
   still waiting for its reply. */
inline destroyThread(t) {
    detach(t);
    j = 0;
    do
    :: j < NT ->
        if :: saved[j] == t -> saved[j] = NONE :: else -> skip fi;
#ifndef BUG_DESTROY_AS_DETACH
        if :: callee[j] == t -> callee[j] = NONE; cancel(j, EABORTED) :: else -> skip fi;
#endif
        j++
    :: else -> break
    od;
    saved[t] = NONE; caller[t] = NONE; callee[t] = NONE; dropped[t] = false;
    st[t] = DEAD
}

/* Destroy the endpoint: everyone queued on it is woken with `aborted`. */
inline destroyEndpoint() {
    j = 0;
    do
    :: j < NT -> if :: qon[j] != NONE -> cancel(j, EABORTED) :: else -> skip fi; j++
    :: else -> break
    od;
    epDead = true
}

/* Whether thread t is where its state says, and can be woken (see the properties above). */
inline audit() {
    lost = false; dangling = false;
    assert(!(slen > 0 && rlen > 0));                 /* a sender and a receiver never wait for each other */
    assert(!epDead || (slen == 0 && rlen == 0));
    i = 0;
    do
    :: i < NT ->
        /* queue membership follows queuedOn and the state */
        found = 0; j = 0;
        do
        :: j < slen -> if :: sq[j] == i -> found++ :: else -> skip fi; j++
        :: else -> break
        od;
        k = 0;
        do
        :: k < rlen -> if :: rq[k] == i -> found++ :: else -> skip fi; k++
        :: else -> break
        od;
        assert(found == (qon[i] != NONE -> 1 : 0));
        if :: blockedOnQueue(i) && qon[i] == NONE -> lost = true :: else -> skip fi;
        if :: !blockedOnQueue(i) && qon[i] != NONE -> lost = true :: else -> skip fi;
        assert(!tmo[i] || (st[i] == SEND || st[i] == CALLSEND || st[i] == RECV));
        /* references */
        if :: caller[i] != NONE && !live(caller[i]) -> dangling = true :: else -> skip fi;
        if :: callee[i] != NONE && !live(callee[i]) -> dangling = true :: else -> skip fi;
        if :: saved[i] != NONE && !live(saved[i]) -> dangling = true :: else -> skip fi;
        if :: st[i] == DEAD && (qon[i] != NONE || tmo[i] || caller[i] != NONE || callee[i] != NONE) -> dangling = true :: else -> skip fi;
        /* a caller link is held only for a thread that waits for this one's reply */
        if
        :: caller[i] != NONE && live(caller[i]) ->
            assert(callee[caller[i]] == i && (st[caller[i]] == WAITREPLY || st[caller[i]] == FAULTED))
        :: else -> skip
        fi;
        /* a thread waiting for a reply can be answered */
        if
        :: st[i] == WAITREPLY || (st[i] == FAULTED && qon[i] == NONE) ->
            if
            :: callee[i] == NONE || !live(callee[i]) -> lost = true
            :: else ->
                if
                :: caller[callee[i]] == i -> skip
                :: saved[callee[i]] == i && savedNum[callee[i]] == calls[i] -> skip
                :: dropped[i] -> skip
                :: else -> lost = true
                fi
            fi
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    assert(!dangling);
    assert(!lost)
}

/* One thread's user program: any system call, any time it runs. */
proctype Thread(byte me) {
end_loop:    /* a valid end state wherever the thread is: audit() and Quiescence say which are allowed */
    do
    :: d_step { st[me] == RUN -> send(me, 0, ZERO); printf("MSC: T%d send(ZERO)\n", me); audit() }
    :: d_step { st[me] == RUN -> send(me, 0, FINITE); printf("MSC: T%d send(FINITE)\n", me); audit() }
    :: d_step { st[me] == RUN -> send(me, 0, INFINITE); printf("MSC: T%d send(INFINITE)\n", me); audit() }
    :: d_step { st[me] == RUN && calls[me] < MAXCALLS -> send(me, 1, FINITE); printf("MSC: T%d call(FINITE)\n", me); audit() }
    :: d_step { st[me] == RUN && calls[me] < MAXCALLS -> send(me, 1, INFINITE); printf("MSC: T%d call(INFINITE)\n", me); audit() }
    :: d_step { st[me] == RUN -> wait(me, ZERO); printf("MSC: T%d wait(ZERO)\n", me); audit() }
    :: d_step { st[me] == RUN -> wait(me, FINITE); printf("MSC: T%d wait(FINITE)\n", me); audit() }
    :: d_step { st[me] == RUN -> wait(me, INFINITE); printf("MSC: T%d wait(INFINITE)\n", me); audit() }
    :: d_step { st[me] == RUN -> reply(me); printf("MSC: T%d reply\n", me); audit() }
    :: d_step { st[me] == RUN -> replyWait(me, FINITE); printf("MSC: T%d replyWait(FINITE)\n", me); audit() }
    :: d_step { st[me] == RUN -> replyWait(me, INFINITE); printf("MSC: T%d replyWait(INFINITE)\n", me); audit() }
    :: d_step { st[me] == RUN -> saveCaller(me); printf("MSC: T%d saveCaller\n", me); audit() }
    :: d_step { st[me] == RUN -> replySaved(me); printf("MSC: T%d replySaved\n", me); audit() }
    :: d_step { st[me] == RUN && calls[me] < MAXCALLS -> fault(me); printf("MSC: T%d fault\n", me); audit() }
    od
}

/* The timeout list: a finite timeout may expire at any moment (IPC.expire). */
proctype Timer(byte t) {
end_timer:
    do
    :: d_step { tmo[t] -> cancel(t, ETIMEOUT); printf("MSC: T%d expires\n", t); audit() }
    od
}

/* Other threads' system calls on these threads and the endpoint: stop, start, destroy. At most
   MAXENV of them, so that the system can come to rest and Quiescence judge the end state. */
#define environmentActions(t) \
    :: d_step { actions < MAXENV && st[t] != STOPPED && st[t] != DEAD -> stop(t); printf("MSC: stop T%d\n", t); actions++; audit() } \
    :: d_step { actions < MAXENV && st[t] == STOPPED -> wake(t); printf("MSC: start T%d\n", t); actions++; audit() } \
    :: d_step { actions < MAXENV && destroys < MAXDESTROY && st[t] != DEAD -> destroyThread(t); printf("MSC: destroy T%d\n", t); destroys++; actions++; audit() }

proctype Environment() {
end_environment:
    do
    environmentActions(0)
    environmentActions(1)
    environmentActions(2)
    :: d_step { actions < MAXENV && destroys < MAXDESTROY && !epDead -> destroyEndpoint(); printf("MSC: destroy endpoint\n"); destroys++; actions++; audit() }
    od
}

/* When nothing can move any more, every thread must be in an intended end state. */
proctype Quiescence() {
end_quiet:
    timeout ->
    d_step {
        i = 0;
        do
        :: i < NT ->
            assert(!tmo[i]);    /* a pending timeout always fires */
            assert(st[i] == DEAD || st[i] == STOPPED
                   || (blockedOnQueue(i) && qon[i] != NONE && !epDead)
                   || ((st[i] == WAITREPLY || st[i] == FAULTED) && live(callee[i])));
            i++
        :: else -> break
        od
    }
}

init {
    atomic {
        run Thread(0); run Thread(1); run Thread(2);
        run Timer(0); run Timer(1); run Timer(2);
        run Environment(); run Quiescence()
    }
}

/* A thread blocked with a finite timeout always leaves that state: woken by a partner, its expiry, or
   destroy (checked with weak fairness: a timer that can fire eventually does). Thread 0 stands for every
   thread: the threads are symmetric. */
ltl timeouts_expire { [] (tmo[0] -> <> !tmo[0]) }
