/*
 * The mapping database of MappingDatabase.swift, as UserMemory.swift drives it (map, grant, unmap with
 * and without the own mapping, restrict), and destroying a task (issue 12: its mappings are revoked with
 * everything derived from them), modelled for Spin. Checked by `swiftlet check-models` and by
 * ModelCheckTests in `swiftlet test` (see README, "Model checking").
 *
 * One frame's tree: node n is used[n], in address space space[n] at address va[n] with rights[n]
 * (bit 0 read, bit 1 write), derived from parent[n]. Node 0 is the root, sigma0's (task 0). A
 * node's children are the used nodes whose parent it is; `firstChild` is the lowest-numbered one (the
 * order of siblings does not change what a revoke removes). Page tables hold one entry per address, so
 * (space, va) names at most one node, which is how UserMemory.mapping finds the node behind a page.
 *
 * Bounds: 4 tasks (sigma0 and three others) with one page address each, 4 nodes, rights read and write
 * (execute behaves as write does), at most 2 task destroys. That allows chains of depth 4 (sigma0 -> A
 * -> B -> C), trees with two branches, revoking a middle node, granting a node with children, and
 * replacing a mapping with one derived from it; each frame's tree is independent of the others' (no
 * operation touches two frames), so one frame suffices.
 *
 * Properties (asserted after every step, see audit()):
 *   rights never grow along a chain: rights[n] is a subset of rights[parent[n]];
 *   no dangling reference: every used node's parent is used, and no node is in a destroyed task;
 *   a revoke removes every mapping derived from the node (and the node with includingSelf), and only
 *     those (checked in revoke() against the set of descendants taken before it);
 *   a map or grant never revokes its own source (UserMemory's isAncestor check);
 *   one node per (space, address), and a chain never loops (every node reaches the root).
 *
 * Broken variants (each must be caught; see ModelCheckTests):
 *   -DBUG_MAP_UNCHECKED_RIGHTS   map does not check the rights against the parent's
 *   -DBUG_REVOKE_ONE_LEVEL       revoke frees the children but not their subtrees (leaves orphans)
 *   -DBUG_NO_ANCESTOR_CHECK      map replaces a mapping its source was derived from
 */

#define NN 4
#define NS 4
#define NV 1
#define NONE 255
#define ALL 3
#define MAXDESTROY 2

bool used[NN];
byte space[NN], va[NN], rights[NN];
byte parent[NN] = NONE;
bool dead[NS];
byte destroys;
/* scratch variables of the operations, all 0 again after each step (so they add no states) */
byte i, j, k, n, leaf, child, existing, ancestor, go;
bool doomed[NN];

#define subset(a, b) (((a) & (b)) == (a))

/* isAncestor(c, m): whether c is m's parent, grandparent, ... (leaves the answer in `ancestor`). */
inline isAncestor(c, m) {
    ancestor = false;
    k = parent[m];
    do
    :: k == NONE -> break
    :: k != NONE && k == c -> ancestor = true; break
    :: k != NONE && k != c -> k = parent[k]
    od;
    skip    /* a break's target inside the d_step */
}

/* The lowest-numbered child of node m, or NONE (leaves it in `child`). */
inline firstChild(m) {
    child = NONE; k = 0;
    do
    :: k < NN && used[k] && parent[k] == m -> child = k; break
    :: k < NN && !(used[k] && parent[k] == m) -> k++
    :: k == NN -> break
    od;
    skip    /* a break's target inside the d_step */
}

/* unlinkAndFree: the node goes; its quota is refunded (not modelled: the pool is the quota). */
inline free(m) { used[m] = false; parent[m] = NONE; space[m] = 0; va[m] = 0; rights[m] = 0 }

/* MappingDatabase.revoke: post-order, children before their parents. */
inline revoke(m, includingSelf) {
    /* the mappings derived from m, taken before, to check the walk against */
    j = 0;
    do
    :: j < NN -> if :: used[j] -> isAncestor(m, j); doomed[j] = ancestor :: else -> doomed[j] = false fi; j++
    :: else -> break
    od;
    doomed[m] = includingSelf;
    firstChild(m);
    do
    :: child != NONE ->
        leaf = child;
#ifndef BUG_REVOKE_ONE_LEVEL
        firstChild(leaf);
        do
        :: child != NONE -> leaf = child; firstChild(leaf)
        :: else -> break
        od;
#endif
        free(leaf);
        firstChild(m)
    :: else -> break
    od;
    if :: includingSelf -> free(m) :: else -> skip fi;
    /* a revoke removes every derived mapping, and nothing else */
    j = 0;
    do
    :: j < NN -> assert(!(doomed[j] && used[j])); doomed[j] = false; j++
    :: else -> break
    od;
    skip    /* a break's target inside the d_step */
}

/* The node behind task t's page at address v, or NONE (leaves it in `existing`). */
inline mappingAt(t, v) {
    existing = NONE; k = 0;
    do
    :: k < NN && used[k] && space[k] == t && va[k] == v -> existing = k; break
    :: k < NN && !(used[k] && space[k] == t && va[k] == v) -> k++
    :: k == NN -> break
    od;
    skip    /* a break's target inside the d_step */
}

/* UserMemory.map (replace: true, as an IPC map item does): s's page into t at v with rights r. */
inline map(s, t, v, r) {
    go = true;
#ifndef BUG_MAP_UNCHECKED_RIGHTS
    if :: r == 0 || !subset(r, rights[s]) -> go = false :: else -> skip fi;    /* rightsExceeded */
#endif
    if
    :: go ->
        mappingAt(t, v);
        if
        :: existing == s -> go = false                            /* a page onto itself changes nothing */
        :: existing != NONE && existing != s ->
#ifndef BUG_NO_ANCESTOR_CHECK
            isAncestor(existing, s);
            if :: ancestor -> go = false :: else -> skip fi;       /* occupied */
#endif
            if :: go -> revoke(existing, true) :: else -> skip fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    if
    :: go ->
        /* the source survives the replacement */
        assert(used[s]);
        /* MappingDatabase.map: a free node (none left: quotaExceeded) */
        k = 0;
        do
        :: k < NN && used[k] -> k++
        :: k < NN && !used[k] -> used[k] = true; space[k] = t; va[k] = v; rights[k] = r; parent[k] = s; break
        :: k == NN -> break
        od;
        skip
    :: else -> skip
    fi
}

/* UserMemory.grant: s moves to t at v, keeping its place in the tree and its children. */
inline grant(s, t, v) {
    mappingAt(t, v);
    if
    :: existing == s -> skip
    :: existing != NONE && existing != s ->
        isAncestor(existing, s);
        if :: !ancestor -> revoke(existing, true); assert(used[s]); space[s] = t; va[s] = v :: else -> skip fi
    :: existing == NONE -> space[s] = t; va[s] = v
    fi
}

/* MappingDatabase.restrict: take rights r from every mapping derived from s (a node left with none is
   unmapped from the page table but stays in the tree, as in the Swift code). */
inline restrict(s, r) {
    j = 0;
    do
    :: j < NN ->
        if :: used[j] -> isAncestor(s, j); if :: ancestor -> rights[j] = rights[j] & (ALL - r) :: else -> skip fi
        :: else -> skip fi;
        j++
    :: else -> break
    od;
    skip    /* a break's target inside the d_step */
}

/* Destroy task t: every mapping in it is revoked with what was derived from it. */
inline destroyTask(t) {
    n = 0;
    do
    :: n < NN -> if :: used[n] && space[n] == t -> revoke(n, true) :: else -> skip fi; n++
    :: else -> break
    od;
    dead[t] = true
}

inline audit() {
    i = 0;
    do
    :: i < NN ->
        if
        :: used[i] ->
            assert(!dead[space[i]]);                                    /* no node in a destroyed task */
            assert(i == 0 || (parent[i] != NONE && used[parent[i]]));   /* no dangling parent */
            assert(parent[i] == NONE || subset(rights[i], rights[parent[i]]));   /* rights never grow */
            /* the chain reaches the root: at most NN steps */
            j = i; k = 0;
            do
            :: parent[j] != NONE && k < NN -> j = parent[j]; k++
            :: else -> break
            od;
            assert(j == 0);
            /* one node per page */
            j = i + 1;
            do
            :: j < NN -> assert(!(used[j] && space[j] == space[i] && va[j] == va[i])); j++
            :: else -> break
            od
        :: else -> assert(parent[i] == NONE)
        fi;
        i++
    :: else -> break
    od;
    i = 0; j = 0; k = 0; n = 0; leaf = 0; child = 0; existing = 0; ancestor = 0; go = 0
}

/* Any task's map, grant or unmap, on any of its pages, and the root task destroying a task. */
proctype Tasks() {
    byte s, t, v, r;
end_tasks:
    do
    :: select(s : 0 .. NN - 1); select(t : 0 .. NS - 1); select(v : 0 .. NV - 1); select(r : 1 .. ALL);
       skip; d_step { if :: used[s] && !dead[t] -> map(s, t, v, r) :: else -> skip fi; audit(); s = 0; t = 0; v = 0; r = 0 }
    :: select(s : 1 .. NN - 1); select(t : 0 .. NS - 1); select(v : 0 .. NV - 1);
       skip; d_step { if :: used[s] && !dead[t] -> grant(s, t, v) :: else -> skip fi; audit(); s = 0; t = 0; v = 0 }
    :: select(s : 0 .. NN - 1);
       skip; d_step { if :: used[s] -> revoke(s, false) :: else -> skip fi; audit(); s = 0 }
    :: select(s : 1 .. NN - 1);
       skip; d_step { if :: used[s] -> revoke(s, true) :: else -> skip fi; audit(); s = 0 }
    :: select(s : 0 .. NN - 1); select(r : 1 .. ALL);
       skip; d_step { if :: used[s] -> restrict(s, r) :: else -> skip fi; audit(); s = 0; r = 0 }
    :: destroys < MAXDESTROY -> select(t : 1 .. NS - 1);
       skip; d_step { if :: !dead[t] -> destroyTask(t); destroys++ :: else -> skip fi; audit(); t = 0 }
    od;
    skip    /* a break's target inside the d_step */
}

init {
    atomic { used[0] = true; space[0] = 0; va[0] = 0; rights[0] = ALL; run Tasks() }    /* insertRoot: sigma0 owns the frame */
}
