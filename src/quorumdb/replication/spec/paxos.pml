/*
 * paxos.pml -- Promela model of quorumdb's replication protocol (issue 4, point 6).
 *
 * What this is: the protocol summary of src/quorumdb/replication/__init__.py written as
 * one guarded-action system (TLA+ style: a single process whose loop picks any enabled
 * action atomically), checked by spin.  README.md beside this file maps every action to
 * the code and lists the abstractions and bounds.
 *
 * Properties (assertions; spin -DSAFETY, every reachable state):
 *   P1 agreement      no two different values are ever chosen for one slot
 *   P2 one lease      never two leaders holding a lease at the same real instant
 *   P3 log replica    a log replica never becomes candidate or leader
 *   P4 lease read     a leader allowed to read consistently (live lease, own no-op and
 *                     every slot before it committed) holds every chosen value, and
 *                     every value up to its no-op is chosen
 *   P_prefix          when slots s-1 and s are both chosen, the value chosen
 *                     at s was created right after the value chosen at s-1: its prev is the
 *                     origin of that value (Entry.origin / Entry.prev, types.py)
 *
 * Compile-time switches (gcc -D...):
 *   LOG_REPLICA   group = full replicas 0,1 + log replica 2 (quorum 2 of 3)
 *   BUG_QUORUM1   quorum of 1                                     -> P1 fails
 *   BUG_DRIFT     leader lease = sent + LEASE - DRIFT (per-clock bound, not the
 *                 relative bound 2*DRIFT)                         -> P2 fails
 *   BUG_RESTART   a restarted node forgets the leases it granted -> P2 fails
 *   BUG_NOREPROPOSE new leader ignores accepted values in promises -> P1 fails
 *   BUG_LOGLEADER log replica may campaign                        -> P3 fails
 *   BUG_READ_EARLY reads before the own no-op is committed        -> P4 fails
 *   BUG_NO_ACCEPT_RULE an acceptor accepts an entry without the same ballot's entry at
 *                 the slot before (no prefix-closed acceptance)   -> P_prefix fails
 *   BUG_NO_MERGE_RULE a new leader takes the highest-ballot reported value whatever its
 *                 prev (3 elections needed)                       -> P_prefix fails
 *   REACH_MERGE_DROP probe: the merge drops the highest-ballot value reported for a slot
 *   BUG_TRANSFER_RESUME after an abandoned transfer the old leader resumes under the
 *                 same ballot                                     -> P2 fails
 *   BUG_TRANSFER_RESUME_FRESH the same, counting only heartbeat rounds sent after
 *                 resuming                                        -> P2 fails
 *   RECONFIG      S = 3; C0 = {0,1}; a config entry adds 2 as a log replica (C1), in
 *                 force on a member when it learns the entry committed; "lagging"
 *                 Prepare refusal; no time/leases; its own, reduced actions (README,
 *                 "Reconfiguration"); -DR=3 allows a third round
 *   BUG_JOINER_LEADS (RECONFIG) a member that is no voter campaigns  -> P3 fails
 *   BUG_TWO_AT_ONCE (RECONFIG) C0 = {0,1,2} -> C1 = {0} in one entry -> P1 fails
 *   BUG_NO_LAGGING_RULE (RECONFIG) acceptors do not refuse lagging candidates (P1 still
 *                 holds for one single-member change: README)
 *   REACH_PREFIX_CROSS (RECONFIG) neighbouring chosen values of different origins
 *   REACH_LOWER_PICK (RECONFIG, by hand) the merge picks a report below a dropped higher one
 *   REACH_CONFIG, REACH_JOINED_VOTE, REACH_JOINER_PROMISE, REACH_LAGGING (RECONFIG) the
 *                 joiner learns the change is committed; a slot after the change is
 *                 chosen by a quorum that needs the joiner; a candidate wins with the
 *                 joiner's promise; an acceptor refuses a candidate only as lagging
 *   REACH_CHOSEN, REACH_HANDOVER, REACH_READ, REACH_LOG_VOTE
 *                 non-vacuity probes: assert that a good state is NOT reachable;
 *                 spin must report a violation (the state is reachable).
 */

/* ---------------------------------------------------------------- bounds */
#define NN        3             /* replicas (node ids 0..NN-1) */
#ifdef RECONFIG
#define S         3             /* log slots 0..S-1: no-op, config entry, one after it */
#else
#define S         2             /* log slots 0..S-1 (code slots start at 1) */
#endif
#ifndef R
#define R         2             /* election rounds 1..R per node (3 allowed with RECONFIG) */
#endif
#define NB        ((R+1)*NN)    /* ballots 0..NB-1; ballot = round*NN + node; 0 = none */
#define LEASE     3             /* lease_ns, in ticks */
#define DRIFT     1             /* every clock reads true time + [0, DRIFT] */
#define MAX_DRIFT (2*DRIFT)     /* max_drift_ns: two clocks measure one interval
                                   differently by at most this much */
#ifndef T_MAX
#define T_MAX     5             /* time horizon, ticks */
#endif
#ifndef MAX_CAMPAIGNS
#define MAX_CAMPAIGNS 3         /* elections in one behaviour (rounds are also <= R) */
#endif
#ifdef CRASH_NODE
#define CAN_CRASH(n) ((n) == CRASH_NODE)   /* only this node may crash */
#else
#define CAN_CRASH(n) true
#endif
#ifndef MAX_CRASH
#define MAX_CRASH 1             /* crashes in one behaviour (0: no crashes) */
#endif
/* -DTRANSFER adds graceful leadership transfer (TimeoutNow); -DJUMPS lets a clock jump
   forward between ticks (by default skews change only at ticks) */

/* the action enumeration at the end of this file is written out for these bounds */
#if NN != 3 || (S != 2 && S != 3) || (R != 2 && !(R == 3 && defined(RECONFIG))) || DRIFT != 1
#error "the enumeration macros assume NN=3, S=2 (3 with RECONFIG), R=2 (or 3 with RECONFIG), DRIFT=1: update them together"
#endif
#if defined(RECONFIG) && (defined(TRANSFER) || !defined(NO_LEASE) || T_MAX != 0 || defined(NO_HEARTBEAT) || defined(NO_COMMIT_LEARN) || defined(LOG_REPLICA) || defined(NO_PHASE2))
#error "RECONFIG is checked without leases/time/transfer/static log replica, with phase 2, heartbeats and commit learning"
#endif

#ifdef BUG_QUORUM1
#define Q 1
#else
#define Q 2                     /* quorum_size() of 3 members */
#endif

#ifdef BUG_DRIFT
#define MARGIN DRIFT
#else
#define MARGIN MAX_DRIFT
#endif

#ifdef RECONFIG
/* Membership through the log (README, "Reconfiguration").  Two memberships: C0 in force
   at bootstrap, C1 named by the one config entry the model can propose.  Bit masks of
   members (voters + log replicas) and voters.  cfgs[n] = 0: n has C0 in force; = c+1:
   n knows the config entry in slot c chosen, so C1 is in force on n. */
#ifdef BUG_TWO_AT_ONCE
#define C0_MEM 7                /* {0, 1, 2}, all voters */
#define C0_VOT 7
#define C1_MEM 1                /* {0}: two voters removed by ONE entry */
#define C1_VOT 1
#else
#define C0_MEM 3                /* {0, 1} voters; 2 is not a member yet */
#define C0_VOT 3
#define C1_MEM 7                /* {0, 1} voters + 2 joined as a log replica */
#define C1_VOT 3
#endif
#define MEMBERS(c)      ((c) -> C1_MEM : C0_MEM)
#define VOTERS(c)       ((c) -> C1_VOT : C0_VOT)
#define QUORUM_IN(c, m) (2*POP((m) & MEMBERS(c)) > POP(MEMBERS(c)))
#define CFG(n)          (cfgs[n] != 0)
#define QUORUM_OF(n, m) QUORUM_IN(CFG(n), m)
#define IS_LOG(n)       (!(VOTERS(CFG(n)) & BIT(n)))   /* not a voter in its membership */
#else
#define QUORUM_OF(n, m) (POP(m) >= Q)
#ifdef LOG_REPLICA
#define IS_LOG(n) ((n) == NN-1)
#else
#define IS_LOG(n) false
#endif
#endif

/* may node n lead?  Only a full replica (log replicas never campaign) */
#ifdef BUG_LOGLEADER
#define ELIGIBLE(n) true
#elif defined(BUG_JOINER_LEADS)    /* RECONFIG: any member, not only a voter, campaigns */
#define ELIGIBLE(n) (MEMBERS(CFG(n)) & BIT(n))
#else
#define ELIGIBLE(n) (!IS_LOG(n))
#endif

#define FOLLOWER  0
#define CANDIDATE 1
#define LEADER    2

#define OWNER(b)       ((b) % NN)
#ifdef RECONFIG
#define VAL(b, kind)   ((b)*4 + (kind))     /* kind 0 = no-op, 1 = client data, 2 = config */
#define KIND(v)        ((v) % 4)
#define KCFG           2
/* Entry.origin (see below): the config entry VAL(b, KCFG) is created by the leader of b */
#define ORIGIN(v)      ((v) / 4)
#else
#define VAL(b, kind)   ((b)*2 + (kind))     /* kind 0 = no-op, 1 = client data */
#define KIND(v)        ((v) % 2)
/* Entry.origin: the ballot of the leader that created value v (a re-proposal keeps the
   value, hence its origin; a gap-filling or own no-op of leader b is VAL(b, 0): origin b).
   0 = ZERO_BALLOT, the origin of the empty prefix before slot 0. */
#define ORIGIN(v)      ((v) / 2)
#endif
/* Entry.prev of value v at slot s: the origin of the value its creator held at s - 1.  A
   leader creates at most one value per slot and its log (accmsg[b*S + ...]) is written
   before or with the slot after it and never changes, so prev is recomputed from the
   creator's Accept at s - 1 instead of stored (as R5 does for accepted values).  Slot 0
   follows the empty prefix: prev = 0. */
#define PREV(v, s)     ((s) == 0 -> 0 : ORIGIN(accmsg[ORIGIN(v)*S + (s) - 1]))
/* prefix-closed acceptance (replicate.accept_entries): acceptor a accepts ballot b's entry
   at s only right after its commit index (s <= kcommit: code slot s+1 - 1 <= commit_slot)
   or right after an entry it accepted at the same ballot in s - 1 */
#ifdef BUG_NO_ACCEPT_RULE
#define IN_PREFIX(a, b, s) true
#else
#define IN_PREFIX(a, b, s) ((s) <= kcommit[a] || abal[IDX(a, (s) - 1)] == (b))
#endif
/* the merge rule (election.merge_promises): a reported value is a candidate for slot k
   only if its prev is the origin pv of the value just taken for k - 1 */
#ifdef BUG_NO_MERGE_RULE
#define FOLLOWS(v, k, pv) true
#else
#define FOLLOWS(v, k, pv) (PREV(v, k) == (pv))
#endif
#define BIT(i)         (1 << (i))
#define POP(m)         (((m)&1) + (((m)>>1)&1) + (((m)>>2)&1) + (((m)>>3)&1))
#define LOCAL(n)       (now + skew[n])
#define IDX(n, s)      ((n)*S + (s))
#define PIDX(b, a, s)  (((b)*NN + (a))*S + (s))
/* every slot up to and including the leader's own no-op is committed */
#ifdef BUG_READ_EARLY
#define NOOP_COMMITTED(n) true
#else
#define NOOP_COMMITTED(n) ((cmask[n] & (BIT(noop_slot[n] + 1) - 1)) == BIT(noop_slot[n] + 1) - 1)
#endif
#define HOLDS_LEASE(n) (up[n] && role[n] == LEADER && LOCAL(n) < lease_end[n])

/* non-vacuity probes: each asserts that a wanted state is unreachable, so spin must
   report an assertion violation (a trail to that state) when the probe is enabled */
#ifdef REACH_READ      /* a read is served after two different leaders held leases */
#define PROBE_READ     assert(POP(ever_lease) < 2)
#else
#define PROBE_READ     skip
#endif
#ifdef REACH_HANDOVER  /* two different leaders held leases, one after the other */
#define PROBE_HANDOVER assert(POP(ever_lease) < 2)
#else
#define PROBE_HANDOVER skip
#endif
#ifdef REACH_CHOSEN    /* a client value is chosen */
#define PROBE_CHOSEN   assert(KIND(v) == 0)
#else
#define PROBE_CHOSEN   skip
#endif
#ifdef REACH_LOG_VOTE  /* a client value is chosen by a quorum that needs the log replica */
#define PROBE_LOG_VOTE assert(!(voted[b*S + s] & BIT(NN-1)) || POP(voted[b*S + s]) > Q || KIND(v) == 0)
#else
#define PROBE_LOG_VOTE skip
#endif

#ifdef REACH_MERGE_DROP /* a new leader drops the highest-ballot value reported for a slot:
                          the merge rule changes what is re-proposed */
#define PROBE_MERGE_DROP assert(best == top)
#else
#define PROBE_MERGE_DROP skip
#endif

#ifdef REACH_CONFIG    /* the joining member learns that the config entry is committed */
#define PROBE_CONFIG(n) assert(n != NN-1)
#else
#define PROBE_CONFIG(n) skip
#endif
#ifdef REACH_JOINED_VOTE /* after the change, a slot is chosen by a C1 quorum that needs the joined member */
#define PROBE_JOINED_VOTE assert(!(gcfg < s && (voted[b*S + s] & BIT(NN-1)) && !QUORUM_IN(0, voted[b*S + s])))
#else
#define PROBE_JOINED_VOTE skip
#endif
#ifdef REACH_JOINER_PROMISE /* a candidate wins with the promise of the joined log replica */
#define PROBE_JOINER_PROMISE(n) assert(!(pmask[n] & BIT(NN-1)))
#else
#define PROBE_JOINER_PROMISE(n) skip
#endif
#ifdef REACH_PREFIX_CROSS /* (RECONFIG) two neighbouring slots are chosen with values of
                            different origins: P_prefix compares prev across leaders */
#define PROBE_PREFIX_CROSS assert(!((s > 0 && chosen[s - 1] != 0 && ORIGIN(chosen[s - 1]) != ORIGIN(v)) || (s + 1 < S && chosen[s + 1] != 0 && ORIGIN(chosen[s + 1]) != ORIGIN(v))))
#else
#define PROBE_PREFIX_CROSS skip
#endif
#ifdef REACH_LAGGING   /* an acceptor refuses a candidate's Prepare only because it is lagging */
#define LAG_REFUSES(o, a) (role[o] == CANDIDATE && up[a] && SENDS_TO(o, a) && cbal[o] > promised[a] && !NOT_LAGGING(a, cbal[o]))
#define PROBE_LAGGING assert(!(LAG_REFUSES(0, 1) || LAG_REFUSES(0, 2) || LAG_REFUSES(1, 0) || LAG_REFUSES(1, 2) || LAG_REFUSES(2, 0) || LAG_REFUSES(2, 1)))
#else
#define PROBE_LAGGING skip
#endif

/* ever_lease (which nodes ever held a lease) is ghost state needed by two probes only;
   it is kept out of the other runs because it multiplies their state count */
#if defined(REACH_READ) || defined(REACH_HANDOVER)
#define RECORD_LEASE(n) if :: HOLDS_LEASE(n) -> ever_lease = ever_lease | BIT(n) :: else -> skip fi
#else
#define RECORD_LEASE(n) skip
#endif

/* ---------------------------------------------------------------- state */
#ifndef RECONFIG
byte now;                       /* global real time */
byte skew[NN];                  /* local clock = now + skew, 0 <= skew <= DRIFT */
#endif
bit  up[NN];
byte crashes;
byte campaigns;                 /* elections started in this behaviour */

/* persistent (HardState + WAL): survives a crash */
byte promised[NN];
byte abal[NN*S];                /* accepted ballot per slot, 0 = none */
#ifdef RECONFIG
/* the accepted value is the one Accept(b, s) carries: accmsg[b*S + s] is written once per
   (b, s) and never changes, so the value is recomputed instead of stored (README,
   "Reductions of the reconfiguration model", R5) */
#define AVAL(a, s)     accmsg[abal[IDX(a, s)]*S + (s)]
#else
byte aval[NN*S];                /* accepted value per slot */
#define AVAL(a, s)     aval[IDX(a, s)]
#endif
byte kcommit[NN];               /* slots 0..kcommit-1 known chosen (commit_slot) */

#ifndef RECONFIG
/* volatile acceptor state */
byte lease_until[NN];           /* lease_granted_until, local time */
byte lease_bal[NN];             /* ballot the latest lease was granted to */
#endif

/* volatile proposer state */
byte role[NN];
byte cbal[NN];                  /* ballot of the current campaign / leadership */
byte noop_slot[NN];             /* slot of the leader's own no-op; S = none */
#ifndef RECONFIG
byte cmask[NN];                 /* slots the leader knows committed */
byte lease_end[NN];             /* leader lease, local time (exclusive) */
bit  xfer[NN];                  /* leadership transfer in progress */
#endif

/* the network: sets of messages ever sent.  A message in the set can be delivered
   any number of times, in any order, or never (loss, duplication, reordering). */
unsigned prep_sent : 16;        /* Prepare(b) sent, bit per ballot */
byte prep_from[NB];             /* Prepare.from_slot */
#ifdef RECONFIG
byte accmsg[NB*S];              /* Accept(b, s, v): v, 0 = not sent */
byte bcommit[NB];               /* commit_slot carried by ballot b's Accepts (and empty
                                   Accepts = heartbeats): its leader's commit, frozen when
                                   the leader steps down */
/* Promises are delivered when sent (or lost): the candidate's accumulator, README R2 */
byte pmask[NN];                 /* promises candidate n holds: bit per acceptor */
short prep[NN*S];               /*   per slot, the accepted ballots they report (bit b),
                                   at most one per prev class: the highest (README, "Values
                                   and their prefix in the reconfiguration model") */
#else
byte prep_tf[NB];               /* Prepare.transfer_from, 0 = none */
byte prom_mask[NB];             /* Promise(b) from acceptor a: bit a */
byte prom_bal[NB*NN*S];         /* Promise payload: accepted entries from from_slot */
byte prom_val[NB*NN*S];
byte accmsg[NB*S];              /* Accept(b, s, v): v, 0 = not sent */
byte hb_bal[NN];                /* latest heartbeat round of node n: ballot, */
byte hb_time[NN];               /*   sent_ns (leader local time), */
byte hb_commit[NN];             /*   commit index carried, */
byte hb_ack[NN];                /*   Accepted(sent_ns) from acceptor a: bit a */
byte tn[NN];                    /* TimeoutNow to node n: sender's ballot, 0 = none */
#endif

/* ghost (observer) state */
byte voted[NB*S];               /* acceptors that accepted ballot b in slot s */
byte chosen[S];                 /* the value chosen in slot s, 0 = none yet */
#ifdef RECONFIG
byte cfgs[NN];                  /* persistent (HardState): config slot + 1 known chosen */
byte gcfg;                      /* ghost: slot in which the config entry was chosen, S = none */
#else
byte ever_lease;                /* nodes that ever held a lease */
#endif

/* scratch variables: written before read inside one d_step, so kept out of the
   state vector (hidden) */
hidden byte i, j, k, v, hi, best, bb, pv, top;

/* ---------------------------------------------------------------- checks */
#ifndef RECONFIG
inline check_invariants() {
  i = 0;
  do
  :: i < NN ->
     j = i + 1;
     do
     :: j < NN -> assert(!(HOLDS_LEASE(i) && HOLDS_LEASE(j)));           /* P2 */
                  j++
     :: else -> break
     od;
     assert(!IS_LOG(i) || role[i] == FOLLOWER);                         /* P3 */
     RECORD_LEASE(i);
     /* P4: can_read_consistently(i) */
     if
     :: HOLDS_LEASE(i) && !xfer[i] && noop_slot[i] < S && NOOP_COMMITTED(i) ->
        j = 0;
        do
        :: j < S ->
           assert(chosen[j] == 0 || chosen[j] == accmsg[cbal[i]*S + j]);
           assert(j > noop_slot[i] || chosen[j] == accmsg[cbal[i]*S + j]);
           j++
        :: else -> break
        od;
        PROBE_READ
     :: else -> skip
     fi;
     i++
  :: else -> break
  od;
  PROBE_HANDOVER
}
#endif

/* ---------------------------------------------------------------- helpers */
/* may acceptor a promise ballot b to a Prepare with transfer_from tf?  Only a higher
   ballot, and only when no lease it granted is live -- unless the Prepare comes from a
   transfer away from the very ballot holding that lease. */
#ifdef NO_LEASE
#define CAN_PROMISE(a, b, tf) ((b) > promised[a])
#else
#define CAN_PROMISE(a, b, tf) ((b) > promised[a] && (LOCAL(a) >= lease_until[a] || ((tf) != 0 && (tf) == lease_bal[a])))
#endif

#ifdef RECONFIG
/* the "lagging" refusal: an acceptor that knows the config entry in slot c chosen
   refuses a Prepare whose from_slot <= c (cfgs = c + 1) */
#ifdef BUG_NO_LAGGING_RULE
#define NOT_LAGGING(a, b) true
#else
#define NOT_LAGGING(a, b) (cfgs[a] == 0 || prep_from[b] >= cfgs[a])
#endif
/* the observer: (b, s, v) is chosen when a quorum of C0 accepted it, or, in a slot after
   the chosen config entry, a quorum of C1 */
#define GHOST_QUORUM(s, m) (QUORUM_IN(0, m) || (gcfg < (s) && QUORUM_IN(1, m)))
/* does the owner o of a ballot send its messages to node a?  The code sends Prepare and
   Accept to the members of the membership in force on the sender only (membership.py: "a
   member outside the membership is no longer sent to"; the leader adds the joiner to its
   progress when it applies the committed entry).  C0 is in force on every node until it
   learns the entry, so C0 members are always sent to; C1 members once the owner has C1
   in force.  The owner's config is read now, not when it sent: cfgs only grows, so this
   lets through more than the code sends, never less (README R1). */
#define SENDS_TO(o, a) ((C0_MEM & BIT(a)) || (cfgs[o] != 0 && (C1_MEM & BIT(a))))
/* ballot b has had a leader: its Accepts (at least the leader's own no-op) are sent */
#define LED(b) (accmsg[(b)*S] != 0 || accmsg[(b)*S + 1] != 0 || accmsg[(b)*S + 2] != 0)
/* no leases, no reads (P2 and P4 are not checked with RECONFIG): P3 only; P1 is asserted
   where votes are counted */
inline check_invariants() {
  assert(!IS_LOG(0) || role[0] == FOLLOWER);                            /* P3 */
  assert(!IS_LOG(1) || role[1] == FOLLOWER);
  assert(!IS_LOG(2) || role[2] == FOLLOWER);
  PROBE_LAGGING
}
#else
#define NOT_LAGGING(a, b) true
#define GHOST_QUORUM(s, m) (POP(m) >= Q)
#endif

/* the ballot a campaign of node n uses: (max round seen + 1, n) */
#define NEXT_BALLOT(n) ((promised[n] / NN + 1) * NN + (n))

/* acceptor a persists promise b and sends Promise(b) with its entries from from_slot */
inline promise(a, b) {
  promised[a] = b;
  k = prep_from[b];
  do
  :: k < S -> prom_bal[PIDX(b, a, k)] = abal[IDX(a, k)];
              prom_val[PIDX(b, a, k)] = aval[IDX(a, k)];
              k++
  :: else -> break
  od;
  prom_mask[b] = prom_mask[b] | BIT(a)
}

/* Promises to ballot b are dead once its candidate stops campaigning with b (it became
   leader, stepped down or crashed): delivering one is a no-op.  Erasing them keeps dead
   messages from multiplying the state count; it removes no behaviour. */
inline forget_promises(b) {
  prom_mask[b] = 0;
  k = 0;
  do
  :: k < NN*S -> prom_bal[b*NN*S + k] = 0; prom_val[b*NN*S + k] = 0; k++
  :: else -> break
  od
}

#ifdef RECONFIG
inline step_down(n) {
  role[n] = FOLLOWER; cbal[n] = 0; noop_slot[n] = S;
  pmask[n] = 0; prep[IDX(n, 0)] = 0; prep[IDX(n, 1)] = 0; prep[IDX(n, 2)] = 0
}
#else
inline step_down(n) {
  if
  :: role[n] == CANDIDATE -> forget_promises(cbal[n])
  :: else -> skip
  fi;
  role[n] = FOLLOWER; cbal[n] = 0; noop_slot[n] = S; cmask[n] = 0;
  lease_end[n] = 0; xfer[n] = 0
}
#endif

/* a node that sees a higher ballot than the one it campaigns/leads with steps down */
inline see_ballot(n, b) {
  if
  :: role[n] != FOLLOWER && cbal[n] < b -> step_down(n)
  :: else -> skip
  fi
}

#ifdef RECONFIG
/* node n learns that the config entry val in slot c is chosen: C1 is in force on n from
   now on (commit-time activation).  A member only ever adopts a chosen config.  A leader
   or candidate that is no voter of C1 steps down. */
inline adopt_config(n, c, val) {
  assert(chosen[c] == val);
  cfgs[n] = c + 1;
  printf("MSC: %d learns config entry (slot %d) committed: membership in force %d, voters %d\n", n, c, C1_MEM, C1_VOT);
  PROBE_CONFIG(n);
  if
  :: role[n] != FOLLOWER && !(C1_VOT & BIT(n)) -> step_down(n)
  :: else -> skip
  fi
}

/* the config entry was just chosen in slot gcfg: votes cast earlier in later slots may now
   form a quorum of C1; judge them (P1) */
inline rejudge() {
  i = 1;
  do
  :: i < NB ->
     j = gcfg + 1;
     do
     :: j < S ->
        if
        :: accmsg[i*S + j] != 0 && QUORUM_IN(1, voted[i*S + j]) ->
           assert(chosen[j] == 0 || chosen[j] == accmsg[i*S + j]);    /* P1 */
           chosen[j] = accmsg[i*S + j];
           check_prefix(j, chosen[j])
        :: else -> skip
        fi;
        j++
     :: else -> break
     od;
     i++
  :: else -> break
  od
}
#endif

/* k := the longest committed prefix known to leader n */
inline commit_prefix(n) {
  k = 0;
  do
  :: k < S && (cmask[n] & BIT(k)) -> k++
  :: else -> break
  od
}

/* ---------------------------------------------------------------- actions
   Each action is an inline whose first statement is its whole guard; the main loop
   wraps every instance (one per choice of parameters) in a d_step, so one enabled
   action is one transition and a disabled one is no transition at all.  Every action
   ends with the invariant checks. */

/* real time advances one tick; every clock reads now + skew, skew in [0, DRIFT].  A
   clock never runs backwards: skew drops by at most DRIFT <= the tick. */
inline tick(s0, s1, s2) {
  now < T_MAX;
  now++; skew[0] = s0; skew[1] = s1; skew[2] = s2;
  printf("MSC: tick now=%d clocks=%d,%d,%d\n", now, now + s0, now + s1, now + s2);
  expire();
  check_invariants()
}

/* After a clock moves, forget what time has made irrelevant (an expired lease, a
   heartbeat round too old to yield a lease), so that states differing only in dead
   timestamps coincide.  Clocks never run backwards, so nothing dead comes back. */
inline expire() {
  i = 0;
  do
  :: i < NN ->
     if
     :: lease_until[i] != 0 && lease_until[i] <= LOCAL(i) -> lease_until[i] = 0; lease_bal[i] = 0
     :: else -> skip
     fi;
     if
     :: lease_end[i] != 0 && lease_end[i] <= LOCAL(i) -> lease_end[i] = 0
     :: else -> skip
     fi;
     if
     :: hb_time[i] + LEASE - MARGIN <= LOCAL(i) -> hb_time[i] = 0; hb_ack[i] = 0
     :: else -> skip
     fi;
     i++
  :: else -> break
  od
}

/* clock n jumps forward without real time passing */
inline clock_jump(n) {
  skew[n] < DRIFT;
  skew[n]++;
  printf("MSC: clock %d jumps to %d\n", n, LOCAL(n));
  expire();
  check_invariants()
}

/* crash: volatile state is lost; promised / accepted / commit survive (WAL) */
inline crash(n) {
  crashes < MAX_CRASH && up[n] && CAN_CRASH(n);
  up[n] = 0; crashes++;
  printf("MSC: crash %d\n", n);
  step_down(n);
#ifndef RECONFIG
  lease_until[n] = 0; lease_bal[n] = 0;
#endif
  check_invariants()
}

/* restart: lease_granted_until := now + lease (it may have granted one before) */
inline restart(n) {
  !up[n];
  up[n] = 1;
  printf("MSC: restart %d\n", n);
#ifndef RECONFIG
#ifndef BUG_RESTART
  lease_until[n] = LOCAL(n) + LEASE;
#endif
  lease_bal[n] = 0;
#endif
  check_invariants()
}

/* campaign: at an election deadline (tf = 0) or on TimeoutNow (tf = the old leader's
   ballot).  The candidate persists its promise to itself, then sends Prepare. */
inline campaign(n, tf) {
  campaigns < MAX_CAMPAIGNS && up[n] && role[n] != LEADER && ELIGIBLE(n) && NEXT_BALLOT(n) < NB && CAN_PROMISE(n, NEXT_BALLOT(n), tf);
  bb = NEXT_BALLOT(n);
  campaigns++;
  printf("MSC: %d campaigns with ballot %d.%d (transfer_from %d)\n", n, bb / NN, n, tf);
  step_down(n);
  prep_from[bb] = kcommit[n];
  prep_tf[bb] = tf;
  promise(n, bb);
  prep_sent = prep_sent | BIT(bb);
  role[n] = CANDIDATE; cbal[n] = bb;
  check_invariants()
}

inline election_timeout(n) { campaign(n, 0) }

inline receive_timeout_now(n) {
  tn[n] != 0 && campaigns < MAX_CAMPAIGNS && up[n] && role[n] != LEADER && ELIGIBLE(n) && NEXT_BALLOT(n) < NB && CAN_PROMISE(n, NEXT_BALLOT(n), tn[n]);
  campaign(n, tn[n])
}

/* acceptor a receives Prepare(b) */
inline receive_prepare(a, b) {
  up[a] && (prep_sent & BIT(b)) && CAN_PROMISE(a, b, prep_tf[b]) && NOT_LAGGING(a, b);
  see_ballot(a, b);
  promise(a, b);
  printf("MSC: %d promises %d.%d\n", a, b / NN, b % NN);
  check_invariants()
}

/* candidate n holds Promises from the acceptors in m, a quorum.  Slots below
   from_slot are known chosen and come from its own log.  The others, up to the highest
   slot any promise reports, are merged in slot order (election.merge_promises): a
   reported value is a candidate only if its prev is the origin pv of the value taken for
   the slot before (the merge rule); the highest-ballot candidate wins; a slot without
   one gets a no-op (origin: this ballot).  Then the leader's own no-op.  All of them are
   (re-)proposed under its ballot. */
inline become_leader(n, m) {
  up[n] && role[n] == CANDIDATE && (m & prom_mask[cbal[n]]) == m && QUORUM_OF(n, m);
  bb = cbal[n];
  k = 0; hi = S;            /* hi: highest slot with a value, S = none */
  do
  :: k < prep_from[bb] ->
     accmsg[bb*S + k] = aval[IDX(n, k)]; cmask[n] = cmask[n] | BIT(k);
     hi = k; k++
  :: else -> break
  od;
  /* the highest slot reported (dropped values count, as `last` in the code) */
  j = k;
  do
  :: j < S ->
     if
     :: ((m & BIT(0)) && prom_bal[PIDX(bb, 0, j)] > 0) || ((m & BIT(1)) && prom_bal[PIDX(bb, 1, j)] > 0) ||
        ((m & BIT(2)) && prom_bal[PIDX(bb, 2, j)] > 0) -> hi = j
     :: else -> skip
     fi;
     j++
  :: else -> break
  od;
  do
  :: hi < S && k <= hi ->
     pv = (k == 0 -> 0 : ORIGIN(accmsg[bb*S + k - 1]));
     best = 0; v = 0; top = 0; i = 0;
     do
     :: i < NN ->
        if
        :: (m & BIT(i)) && prom_bal[PIDX(bb, i, k)] > top -> top = prom_bal[PIDX(bb, i, k)]
        :: else -> skip
        fi;
        if
        :: (m & BIT(i)) && prom_bal[PIDX(bb, i, k)] > best && FOLLOWS(prom_val[PIDX(bb, i, k)], k, pv) ->
           best = prom_bal[PIDX(bb, i, k)]; v = prom_val[PIDX(bb, i, k)]
        :: else -> skip
        fi;
        i++
     :: else -> break
     od;
     PROBE_MERGE_DROP;
     if
#ifdef BUG_NOREPROPOSE
     :: best > 0 -> accmsg[bb*S + k] = VAL(bb, 1)
#else
     :: best > 0 -> accmsg[bb*S + k] = v
#endif
     :: else -> accmsg[bb*S + k] = VAL(bb, 0)
     fi;
     if
     :: top > best -> printf("MSC: %d drops the value of ballot %d.%d reported for slot %d: its prev is not %d.%d\n", n, top / NN, top % NN, k, pv / NN, pv % NN)
     :: else -> skip
     fi;
     k++
  :: else -> break
  od;
  if
  :: hi == S -> noop_slot[n] = 0
  :: else -> noop_slot[n] = hi + 1
  fi;
  if
  :: noop_slot[n] < S -> accmsg[bb*S + noop_slot[n]] = VAL(bb, 0)
  :: else -> skip
  fi;
  forget_promises(bb);
  role[n] = LEADER;
#if S == 3
  printf("MSC: %d leads ballot %d.%d with promises %d, slots %d,%d,%d, own no-op at %d\n", n, bb / NN, n, m, accmsg[bb*S], accmsg[bb*S + 1], accmsg[bb*S + 2], noop_slot[n]);
#else
  printf("MSC: %d leads ballot %d.%d with promises %d, slots %d,%d, own no-op at %d\n", n, bb / NN, n, m, accmsg[bb*S], accmsg[bb*S + 1], noop_slot[n]);
#endif
  check_invariants()
}

/* leader n proposes a client value in its next free slot */
inline propose(n) {
  up[n] && role[n] == LEADER && !xfer[n] && accmsg[cbal[n]*S + S-1] == 0;
  bb = cbal[n];
  k = 0;
  do
  :: accmsg[bb*S + k] != 0 -> k++
  :: else -> break
  od;
  accmsg[bb*S + k] = VAL(bb, 1);
  printf("MSC: %d proposes value %d in slot %d\n", n, VAL(bb, 1), k);
  check_invariants()
}


/* P_prefix: value v was just chosen in slot s; with a chosen neighbour, the later of the
   two must have been created right after the earlier (prev = origin) */
inline check_prefix(s, v) {
  if
  :: s > 0 && chosen[s - 1] != 0 && PREV(v, s) != ORIGIN(chosen[s - 1]) ->
     printf("MSC: P_prefix violated: slot %d chosen %d (prev %d.%d), slot %d chosen %d (origin %d.%d)\n", s, v, PREV(v, s) / NN, PREV(v, s) % NN, s - 1, chosen[s - 1], ORIGIN(chosen[s - 1]) / NN, ORIGIN(chosen[s - 1]) % NN);
     assert(PREV(v, s) == ORIGIN(chosen[s - 1]))                      /* P_prefix */
  :: else -> skip
  fi;
  if
  :: s + 1 < S && chosen[s + 1] != 0 && PREV(chosen[s + 1], s + 1) != ORIGIN(v) ->
     printf("MSC: P_prefix violated: slot %d chosen %d (prev %d.%d), slot %d chosen %d (origin %d.%d)\n", s + 1, chosen[s + 1], PREV(chosen[s + 1], s + 1) / NN, PREV(chosen[s + 1], s + 1) % NN, s, v, ORIGIN(v) / NN, ORIGIN(v) % NN);
     assert(PREV(chosen[s + 1], s + 1) == ORIGIN(v))                  /* P_prefix */
  :: else -> skip
  fi
}

/* acceptor a receives Accept(b, s, v): accepts iff b >= promised and the entry follows
   its commit index or the same ballot's entry in s - 1 (prefix-closed acceptance) */
inline receive_accept(a, b, s) {
  up[a] && accmsg[b*S + s] != 0 && b >= promised[a] && abal[IDX(a, s)] != b && IN_PREFIX(a, b, s);
  v = accmsg[b*S + s];
  see_ballot(a, b);
  promised[a] = b;
  abal[IDX(a, s)] = b; aval[IDX(a, s)] = v;
  voted[b*S + s] = voted[b*S + s] | BIT(a);
  printf("MSC: %d accepts %d.%d slot %d value %d\n", a, b / NN, b % NN, s, v);
  if
  :: GHOST_QUORUM(s, voted[b*S + s]) ->
     assert(chosen[s] == 0 || chosen[s] == v);                  /* P1 agreement */
     chosen[s] = v;
     check_prefix(s, v);
     PROBE_CHOSEN;
     PROBE_LOG_VOTE;
     PROBE_JOINED_VOTE;
     skip
  :: else -> skip
  fi;
  check_invariants()
}

/* leader n has Accepted(b, s) from a quorum: slot s is committed */
inline learn_commit(n, s) {
  up[n] && role[n] == LEADER && accmsg[cbal[n]*S + s] != 0 && QUORUM_OF(n, voted[cbal[n]*S + s]) && !(cmask[n] & BIT(s));
  assert(chosen[s] == accmsg[cbal[n]*S + s]);
  cmask[n] = cmask[n] | BIT(s);
  printf("MSC: %d learns slot %d committed\n", n, s);
  commit_prefix(n);
#ifndef NO_COMMIT_LEARN
  if
  :: k > kcommit[n] -> kcommit[n] = k
  :: else -> skip
  fi;
#endif
  check_invariants()
}

/* leader n starts a heartbeat round: an empty Accept with sent_ns = its local time */
inline heartbeat(n) {
  up[n] && role[n] == LEADER && (hb_bal[n] != cbal[n] || hb_time[n] != LOCAL(n));
  hb_bal[n] = cbal[n]; hb_time[n] = LOCAL(n); hb_ack[n] = 0;
  printf("MSC: %d heartbeat sent_ns=%d\n", n, LOCAL(n));
#ifndef NO_COMMIT_LEARN
  commit_prefix(n); hb_commit[n] = k;
#endif
  check_invariants()
}

/* acceptor a receives node n's latest heartbeat: accepts iff ballot >= promised, and
   then grants a lease from its own clock; learns commit := max(commit, min(leader
   commit, match_slot)) */
inline receive_heartbeat(a, n) {
#ifdef NO_LEASE
  up[a] && hb_bal[n] != 0 && hb_bal[n] >= promised[a] && !(hb_ack[n] & BIT(a));
#else
  up[a] && hb_bal[n] != 0 && hb_bal[n] >= promised[a] && !(lease_until[a] == LOCAL(a) + LEASE && lease_bal[a] == hb_bal[n] && (hb_ack[n] & BIT(a)));
#endif
  bb = hb_bal[n];
  see_ballot(a, bb);
  promised[a] = bb;
#ifndef NO_LEASE
  lease_until[a] = LOCAL(a) + LEASE; lease_bal[a] = bb;
#endif
  hb_ack[n] = hb_ack[n] | BIT(a);
  printf("MSC: %d acks heartbeat of %d at local %d: no promise above it before %d\n", a, n, LOCAL(a), LOCAL(a) + LEASE);
#ifndef NO_COMMIT_LEARN
  k = 0;
  do
  :: k < hb_commit[n] && (k < kcommit[a] || abal[IDX(a, k)] == bb) -> k++
  :: else -> break
  od;
  if
  :: k > kcommit[a] -> kcommit[a] = k
  :: else -> skip
  fi;
#endif
  check_invariants()
}

/* leader n holds Accepted(sent_ns) from a quorum (itself included): its lease runs to
   sent_ns + LEASE - MARGIN on its own clock */
inline gain_lease(n) {
  up[n] && role[n] == LEADER && !xfer[n] && hb_bal[n] == cbal[n] && POP(hb_ack[n]) >= Q && hb_time[n] + LEASE - MARGIN > lease_end[n] && hb_time[n] + LEASE - MARGIN > LOCAL(n);
  lease_end[n] = hb_time[n] + LEASE - MARGIN;
  printf("MSC: %d holds a lease until local %d (now local %d)\n", n, lease_end[n], LOCAL(n));
  check_invariants()
}

/* leadership transfer from n to t: stop proposing, void the own lease, TimeoutNow */
inline transfer(n, t) {
  up[n] && role[n] == LEADER && !xfer[n] && !IS_LOG(t);
  xfer[n] = 1; lease_end[n] = 0; tn[t] = cbal[n];
  printf("MSC: %d transfers to %d: voids its lease, sends TimeoutNow\n", n, t);
  check_invariants()
}

/* the transfer is abandoned (election_timeout_ns without a new leader) */
inline abandon_transfer(n) {
  up[n] && role[n] == LEADER && xfer[n];
  printf("MSC: %d abandons the transfer\n", n);
#if defined(BUG_TRANSFER_RESUME)
  xfer[n] = 0;              /* resume leading under the same ballot */
#elif defined(BUG_TRANSFER_RESUME_FRESH)
  xfer[n] = 0; hb_ack[n] = 0; hb_time[n] = 0;   /* same ballot, but only new rounds count */
#else
  step_down(n);             /* retire the ballot: lead again only after a new election */
#endif
  check_invariants()
}

#ifdef RECONFIG
/* ---------------------------------------------------------------- reconfiguration
   With RECONFIG the actions below replace campaign, receive_prepare, become_leader,
   propose, receive_accept, learn_commit, heartbeat and receive_heartbeat.  They follow the
   same code, with the reductions that README ("Reconfiguration", R1-R8) argues: messages go
   to the members of the sender's membership only (R1); a Promise is delivered when it is
   sent, or lost (R2); the leader persists (accepts) its own entries when it proposes them
   (R3); commit knowledge is a prefix (R4); the commit index Accepts carry is the leader's,
   per ballot (R6). */

/* node a persists the entry Accept(b, s) carries: a vote the observer counts */
inline r_accept(a, b, s) {
  assert(IN_PREFIX(a, b, s));   /* the leader's own entries (R3) obey the accept rule too */
  abal[IDX(a, s)] = b;
  voted[b*S + s] = voted[b*S + s] | BIT(a);
  v = accmsg[b*S + s];
  printf("MSC: %d accepts %d.%d slot %d value %d\n", a, b / NN, b % NN, s, v);
  if
  :: GHOST_QUORUM(s, voted[b*S + s]) ->
     assert(chosen[s] == 0 || chosen[s] == v);                  /* P1 agreement */
     chosen[s] = v;
     check_prefix(s, v);
     PROBE_PREFIX_CROSS;
     PROBE_CHOSEN;
     PROBE_JOINED_VOTE;
     if
     :: KIND(v) == KCFG && gcfg == S -> gcfg = s; rejudge()
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* candidate o holds the report of accepted ballot x (> 0) for slot s: add it to prep[o][s],
   keeping per prev class (PREV of the ballot's value at s) only the highest ballot: the
   merge rule picks, among the reports whose prev is pv, the highest ballot, so a lower
   ballot of the same prev class can never be picked (README, "Values and their prefix in
   the reconfiguration model").  Uses i, j. */
inline add_report(o, s, x) {
  if
  :: x > 0 && !(prep[IDX(o, s)] & BIT(x)) ->
     j = 0; i = 1;
     do
     :: i < NB ->
        if
        :: (prep[IDX(o, s)] & BIT(i)) && PREV(accmsg[i*S + s], s) == PREV(accmsg[x*S + s], s) ->
           if
           :: i > x -> j = 1                                     /* x is dominated */
           :: else -> prep[IDX(o, s)] = prep[IDX(o, s)] & ~BIT(i) /* i is dominated */
           fi
        :: else -> skip
        fi;
        i++
     :: else -> break
     od;
     if
     :: j == 0 -> prep[IDX(o, s)] = prep[IDX(o, s)] | BIT(x)
     :: else -> skip
     fi
  :: else -> skip
  fi
}

#ifdef REACH_LOWER_PICK /* the merge picks a reported value below a dropped higher report:
                           keeping only the highest report per slot would be unsound */
#define PROBE_LOWER_PICK assert(!(best > 0 && best < top))
#else
#define PROBE_LOWER_PICK skip
#endif

/* candidate n holds promises from a quorum (pmask[n]; prep[n]: per slot the accepted
   ballots reported, whose values are what those ballots' Accepts carry): it becomes
   leader at once (handle_promise -> _maybe_win).  Slots below from_slot come from its own
   log (known chosen); the others, up to the highest slot any promise reports (dropped
   values count), are merged in slot order (election.merge_promises): a reported value is
   a candidate only if its prev is the origin pv of the value just taken for the slot
   before (the merge rule); the highest-ballot candidate wins; a slot without one gets a
   no-op (origin: this ballot); then the leader's own no-op.  It persists them under its
   ballot (its own acceptance) before it sends any Accept (the Ready order). */
inline r_become_leader(n) {
  PROBE_JOINER_PROMISE(n);
  bb = cbal[n];
  k = 0; hi = S;            /* hi: highest slot with a value, S = none */
  do
  :: k < prep_from[bb] ->
     assert(AVAL(n, k) != 0 && AVAL(n, k) == chosen[k]);   /* commit_slot only covers chosen slots */
     accmsg[bb*S + k] = AVAL(n, k); hi = k; k++
  :: else -> break
  od;
  /* the highest slot reported (dropped values count, as `last` in the code) */
  j = k;
  do
  :: j < S ->
     if
     :: prep[IDX(n, j)] != 0 -> hi = j
     :: else -> skip
     fi;
     j++
  :: else -> break
  od;
  do
  :: hi < S && k <= hi ->
     pv = (k == 0 -> 0 : ORIGIN(accmsg[bb*S + k - 1]));
     best = 0; top = 0; i = 1;
     do
     :: i < NB ->
        if
        :: (prep[IDX(n, k)] & BIT(i)) -> top = i
        :: else -> skip
        fi;
        if
        :: (prep[IDX(n, k)] & BIT(i)) && FOLLOWS(accmsg[i*S + k], k, pv) -> best = i
        :: else -> skip
        fi;
        i++
     :: else -> break
     od;
     PROBE_MERGE_DROP;
     PROBE_LOWER_PICK;
     if
#ifdef BUG_NOREPROPOSE
     :: best > 0 -> accmsg[bb*S + k] = VAL(bb, 1)
#else
     :: best > 0 -> accmsg[bb*S + k] = accmsg[best*S + k]
#endif
     :: else -> accmsg[bb*S + k] = VAL(bb, 0)
     fi;
     if
     :: top > best -> printf("MSC: %d drops the value of ballot %d.%d reported for slot %d: its prev is not %d.%d\n", n, top / NN, top % NN, k, pv / NN, pv % NN)
     :: else -> skip
     fi;
     k++
  :: else -> break
  od;
  if
  :: hi == S -> noop_slot[n] = 0
  :: else -> noop_slot[n] = hi + 1
  fi;
  if
  :: noop_slot[n] < S -> accmsg[bb*S + noop_slot[n]] = VAL(bb, 0)
  :: else -> skip
  fi;
  pmask[n] = 0; prep[IDX(n, 0)] = 0; prep[IDX(n, 1)] = 0; prep[IDX(n, 2)] = 0;
  role[n] = LEADER;
  bcommit[bb] = kcommit[n];
  printf("MSC: %d leads ballot %d.%d, slots %d,%d,%d, own no-op at %d\n", n, bb / NN, n, accmsg[bb*S], accmsg[bb*S + 1], accmsg[bb*S + 2], noop_slot[n]);
  k = prep_from[bb];
  do
  :: k < S && accmsg[bb*S + k] != 0 -> r_accept(n, bb, k); k++
  :: else -> break
  od
}

/* campaign: ballot (max round seen + 1, n); the candidate persists its promise to itself
   (its own entries from from_slot = commit_slot + 1 are its first promise), then sends
   Prepare to the members of its membership */
inline r_campaign(n) {
  campaigns < MAX_CAMPAIGNS && up[n] && role[n] != LEADER && ELIGIBLE(n) && NEXT_BALLOT(n) < NB;
  bb = NEXT_BALLOT(n);
  campaigns++;
  printf("MSC: %d campaigns with ballot %d.%d from slot %d\n", n, bb / NN, n, kcommit[n]);
  step_down(n);
  prep_from[bb] = kcommit[n];
  promised[n] = bb;
  prep_sent = prep_sent | BIT(bb);
  role[n] = CANDIDATE; cbal[n] = bb;
  pmask[n] = BIT(n);
  k = kcommit[n];
  do
  :: k < S -> add_report(n, k, abal[IDX(n, k)]); k++
  :: else -> break
  od;
  if
  :: QUORUM_OF(n, pmask[n]) -> r_become_leader(n)
  :: else -> skip
  fi;
  check_invariants()
}

/* acceptor a receives Prepare(b): promises iff b > promised (an equal ballot is a resend:
   it repeats a promise already made) and it is not lagging.  The Promise is delivered at
   once (d = 1, only while the owner still campaigns with b) or never (d = 0) (R2). */
inline r_receive_prepare(a, b, d) {
  up[a] && a != OWNER(b) && (prep_sent & BIT(b)) && SENDS_TO(OWNER(b), a) && b > promised[a] && NOT_LAGGING(a, b) &&
    (d == 0 || (up[OWNER(b)] && role[OWNER(b)] == CANDIDATE && cbal[OWNER(b)] == b));
  see_ballot(a, b);
  promised[a] = b;
  printf("MSC: %d promises %d.%d (delivered: %d)\n", a, b / NN, b % NN, d);
  if
  :: d ->
     pmask[OWNER(b)] = pmask[OWNER(b)] | BIT(a);
     k = prep_from[b];
     do
     :: k < S ->
        add_report(OWNER(b), k, abal[IDX(a, k)]);
        k++
     :: else -> break
     od;
     if
     :: QUORUM_OF(OWNER(b), pmask[OWNER(b)]) -> r_become_leader(OWNER(b))
     :: else -> skip
     fi
  :: else -> skip
  fi;
  check_invariants()
}

#if !defined(NO_CLIENT) && !defined(NO_PHASE2)
/* leader n proposes a client value in its next free slot, and persists it */
inline r_propose(n) {
  up[n] && role[n] == LEADER && accmsg[cbal[n]*S + S-1] == 0;
  bb = cbal[n];
  k = 0;
  do
  :: accmsg[bb*S + k] != 0 -> k++
  :: else -> break
  od;
  accmsg[bb*S + k] = VAL(bb, 1);
  printf("MSC: %d proposes value %d in slot %d\n", n, VAL(bb, 1), k);
  r_accept(n, bb, k);
  check_invariants()
}
#endif

/* leader n proposes the (single-member) change to C1 in its next free slot, only when
   its own no-op and every slot before it are committed, no config entry is pending in its
   log, and C0 is still in force on it (the model has one change).  The third rule of the
   code -- a quorum of the new membership reports a commit index at or past the previous
   config entry -- concerns the previous entry, here the bootstrap membership: it holds. */
#define CFG_PENDING(n) (KIND(accmsg[cbal[n]*S]) == KCFG || KIND(accmsg[cbal[n]*S + 1]) == KCFG || KIND(accmsg[cbal[n]*S + 2]) == KCFG)
inline propose_config(n) {
  up[n] && role[n] == LEADER && cfgs[n] == 0 && noop_slot[n] < S && kcommit[n] > noop_slot[n] && !CFG_PENDING(n) && accmsg[cbal[n]*S + S-1] == 0;
  bb = cbal[n];
  k = 0;
  do
  :: accmsg[bb*S + k] != 0 -> k++
  :: else -> break
  od;
  accmsg[bb*S + k] = VAL(bb, KCFG);
  printf("MSC: %d proposes config entry %d (members %d, voters %d) in slot %d\n", n, VAL(bb, KCFG), C1_MEM, C1_VOT, k);
  r_accept(n, bb, k);
  check_invariants()
}

/* acceptor a receives Accept(b, s, v) from another node: accepts iff b >= promised and
   the entry follows its commit index or the same ballot's entry in s - 1 (the accept rule,
   replicate.accept_entries) */
inline r_receive_accept(a, b, s) {
  up[a] && a != OWNER(b) && accmsg[b*S + s] != 0 && SENDS_TO(OWNER(b), a) && b >= promised[a] && abal[IDX(a, s)] != b && IN_PREFIX(a, b, s);
  see_ballot(a, b);
  promised[a] = b;
  r_accept(a, b, s);
  check_invariants()
}

/* leader n has Accepted from a quorum of the membership in force on it for the slot after
   its commit index: the slot is committed (the code's commit index is a prefix, R4); a
   config entry in it takes effect at once */
inline r_learn_commit(n) {
  up[n] && role[n] == LEADER && kcommit[n] < S && accmsg[cbal[n]*S + kcommit[n]] != 0 && QUORUM_OF(n, voted[cbal[n]*S + kcommit[n]]);
  bb = cbal[n]; k = kcommit[n]; v = accmsg[bb*S + k];
  /* the observer has judged these votes chosen (by C0, or by C1 after the entry) */
  assert(chosen[k] == v);                                       /* P1 */
  kcommit[n] = k + 1;
  bcommit[bb] = k + 1;      /* from now on its Accepts and heartbeats carry it */
  printf("MSC: %d learns slot %d committed\n", n, k);
  if
  :: cfgs[n] == 0 && KIND(v) == KCFG -> adopt_config(n, k, v)
  :: else -> skip
  fi;
  check_invariants()
}

/* acceptor a receives an Accept (or heartbeat) of ballot b, b >= promised: commit :=
   max(commit, min(commit carried, match_slot)), one slot at a time (R6); a config entry
   it learns committed takes effect */
inline r_receive_commit(a, b) {
  up[a] && a != OWNER(b) && SENDS_TO(OWNER(b), a) && b >= promised[a] && kcommit[a] < bcommit[b] && abal[IDX(a, kcommit[a])] == b;
  see_ballot(a, b);
  promised[a] = b;
  k = kcommit[a]; v = AVAL(a, k);
  kcommit[a] = k + 1;
  printf("MSC: %d learns from %d.%d that slot %d is committed\n", a, b / NN, b % NN, k);
  if
  :: cfgs[a] == 0 && KIND(v) == KCFG -> adopt_config(a, k, v)
  :: else -> skip
  fi;
  check_invariants()
}

/* acceptor a receives an empty Accept (heartbeat) of ballot b > promised: promised := b */
inline r_receive_heartbeat(a, b) {
  up[a] && a != OWNER(b) && LED(b) && SENDS_TO(OWNER(b), a) && b > promised[a];
  see_ballot(a, b);
  promised[a] = b;
  printf("MSC: %d acks a heartbeat of %d.%d\n", a, b / NN, b % NN);
  check_invariants()
}
#endif

/* ---------------------------------------------------------------- enumeration */
#define D(x)       :: d_step { x }
#define EACH_N(F)  D(F(0)) D(F(1)) D(F(2))
#if R == 3
#define EACH_B(F, a) D(F(a, 3)) D(F(a, 4)) D(F(a, 5)) D(F(a, 6)) D(F(a, 7)) D(F(a, 8)) D(F(a, 9)) D(F(a, 10)) D(F(a, 11))
#else
#define EACH_B(F, a) D(F(a, 3)) D(F(a, 4)) D(F(a, 5)) D(F(a, 6)) D(F(a, 7)) D(F(a, 8))
#endif
#define EACH_NB(F) EACH_B(F, 0) EACH_B(F, 1) EACH_B(F, 2)
#define EACH_BD(F, a) D(F(a, 3, 0)) D(F(a, 3, 1)) D(F(a, 4, 0)) D(F(a, 4, 1)) D(F(a, 5, 0)) D(F(a, 5, 1)) \
                      D(F(a, 6, 0)) D(F(a, 6, 1)) D(F(a, 7, 0)) D(F(a, 7, 1)) D(F(a, 8, 0)) D(F(a, 8, 1)) EACH_BD3(F, a)
#if R == 3
#define EACH_BD3(F, a) D(F(a, 9, 0)) D(F(a, 9, 1)) D(F(a, 10, 0)) D(F(a, 10, 1)) D(F(a, 11, 0)) D(F(a, 11, 1))
#else
#define EACH_BD3(F, a)
#endif
#define EACH_NB_D(F) EACH_BD(F, 0) EACH_BD(F, 1) EACH_BD(F, 2)
#if S == 3
#define EACH_BS(F, a, b) D(F(a, b, 0)) D(F(a, b, 1)) D(F(a, b, 2))
#else
#define EACH_BS(F, a, b) D(F(a, b, 0)) D(F(a, b, 1))
#endif
#if R == 3
#define EACH_B_S(F, a) EACH_BS(F, a, 3) EACH_BS(F, a, 4) EACH_BS(F, a, 5) EACH_BS(F, a, 6) EACH_BS(F, a, 7) EACH_BS(F, a, 8) EACH_BS(F, a, 9) EACH_BS(F, a, 10) EACH_BS(F, a, 11)
#else
#define EACH_B_S(F, a) EACH_BS(F, a, 3) EACH_BS(F, a, 4) EACH_BS(F, a, 5) EACH_BS(F, a, 6) EACH_BS(F, a, 7) EACH_BS(F, a, 8)
#endif
#define EACH_NBS(F) EACH_B_S(F, 0) EACH_B_S(F, 1) EACH_B_S(F, 2)
#if S == 3
#define EACH_NS(F) D(F(0, 0)) D(F(0, 1)) D(F(0, 2)) D(F(1, 0)) D(F(1, 1)) D(F(1, 2)) D(F(2, 0)) D(F(2, 1)) D(F(2, 2))
#else
#define EACH_NS(F) D(F(0, 0)) D(F(0, 1)) D(F(1, 0)) D(F(1, 1)) D(F(2, 0)) D(F(2, 1))
#endif
#define EACH_NN(F) D(F(0, 0)) D(F(0, 1)) D(F(0, 2)) D(F(1, 0)) D(F(1, 1)) D(F(1, 2)) D(F(2, 0)) D(F(2, 1)) D(F(2, 2))
#define EACH_NM(F) D(F(0, 1)) D(F(0, 2)) D(F(1, 0)) D(F(1, 2)) D(F(2, 0)) D(F(2, 1))
#define EACH_N_QUORUM(F, n) D(F(n, 1)) D(F(n, 2)) D(F(n, 3)) D(F(n, 4)) D(F(n, 5)) D(F(n, 6)) D(F(n, 7))
#define EACH_N_Q(F) EACH_N_QUORUM(F, 0) EACH_N_QUORUM(F, 1) EACH_N_QUORUM(F, 2)

/* ---------------------------------------------------------------- the system */
init {
  d_step {
    up[0] = 1; up[1] = 1; up[2] = 1;
    noop_slot[0] = S; noop_slot[1] = S; noop_slot[2] = S
#ifdef RECONFIG
    ; gcfg = S
#endif
  };
  do
#ifdef RECONFIG
  /* no time (no leases), see the #error above */
  EACH_N(crash)
  EACH_N(restart)
  EACH_N(r_campaign)
  EACH_NB_D(r_receive_prepare)
#if !defined(NO_CLIENT)
  EACH_N(r_propose)
#endif
  EACH_N(propose_config)
  EACH_NBS(r_receive_accept)
  EACH_N(r_learn_commit)
  EACH_NB(r_receive_commit)
  EACH_NB(r_receive_heartbeat)
#else
  D(tick(0, 0, 0)) D(tick(0, 0, 1)) D(tick(0, 1, 0)) D(tick(0, 1, 1))
  D(tick(1, 0, 0)) D(tick(1, 0, 1)) D(tick(1, 1, 0)) D(tick(1, 1, 1))
#ifdef JUMPS
  EACH_N(clock_jump)
#endif
  EACH_N(crash)
  EACH_N(restart)
  EACH_N(election_timeout)
#ifdef TRANSFER
  EACH_N(receive_timeout_now)
#endif
  EACH_NB(receive_prepare)
  EACH_N_Q(become_leader)
#if !defined(NO_CLIENT) && !defined(NO_PHASE2)
  EACH_N(propose)
#endif
#ifndef NO_PHASE2
  EACH_NBS(receive_accept)
  EACH_NS(learn_commit)
#endif
#ifndef NO_HEARTBEAT
  EACH_N(heartbeat)
  EACH_NN(receive_heartbeat)
#endif
#ifndef NO_LEASE
  EACH_N(gain_lease)
#endif
#ifdef TRANSFER
  EACH_NM(transfer)
  EACH_N(abandon_transfer)
#endif
#endif
  od
}
