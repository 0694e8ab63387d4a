/*
 * state.c - every instance the journal knows, indexed by id: what otsyncctl is shown, what a
 * restart restores. The one way to change it is state_apply on a journal record — at replay
 * and, through state_record, live — so the daemon's view after a restart is by construction
 * the view it had before. A replay takes the instance records otsyncd writes by a faster
 * road to the same place (state_prepare: parsed on the journal's second thread, applied by
 * state_apply's rules).
 *
 * Records (payload JSON, "t" is the type):
 *   created {id, ct, at, task?, cyc?, state?, reason?, backfill?, params}   (ct: cyc as epoch)
 *   state   {id, state, at, attempt?, base?, retry_at?, reason?, exit?}
 *   pid     {id, pid}            stats {id, stats}            log {id, line}
 *   inst    {every field}        (a compaction snapshot of one instance)
 *   op      {what, uid, at, id? | task?, from?, to?, ok, error?}
 *   reload  {ok, at, tasks?, errors?}         start {at, pid, version}      stop {at}
 *   paused  {task, paused}       (snapshot of an operator's pause)
 * A record holds what it changes: an instance's task and cycle are its id's ("task@cyc",
 * written only when the id does not say them), a created one is waiting unless it says
 * otherwise, and a state record leaves out an attempt, base or reason the instance already
 * has. (Earlier journals wrote them all; a replay reads both.) A third of the bytes a
 * replay parsed were such repeats.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "otsync/jsonarena.h"
#include "otsync/strhash.h"
#include "otsync/vars.h"
#include "otsync/state.h"

struct state {
    struct hinst **hash;        /* open addressing by id */
    size_t hash_size;
    struct hinst **all;         /* every instance; sorted by (cyctime, task) when `sorted` */
    size_t count, cap;
    bool sorted;
    json_t *paused;             /* task -> true, operator pauses */
    json_t *last_reload;        /* the latest reload record, or NULL */
    uint64_t records;           /* applied since start (replay included) */
    time_t last_at;             /* the latest "at" of any record: when a daemon was last seen */
    struct inst_text *range;    /* state_range_text's, of [range_from, range_to), or NULL */
    time_t range_from, range_to;
    size_t range_count;
};

struct state *
state_new(void)
{
    struct state *st = calloc(1, sizeof(*st));

    /* before a replay starts the thread that parses with it (state_prepare) */
    jsonarena_install();
    if (!st)
        return NULL;
    st->paused = json_object();
    if (!st->paused) {
        free(st);
        return NULL;
    }
    return st;
}

static void
hinst_free(struct hinst *h)
{
    free(h->reason);
    free(h->params);
    free(h->stats);
    inst_text_unref(h->json);
    free(h);
}

static void
drop_range(struct state *st)
{
    inst_text_unref(st->range);
    st->range = NULL;
}

/* h is about to change: its texts, h's own and that of a range holding it, may be stale. */
static void
touch(struct state *st, struct hinst *h)
{
    if (h->json) {
        inst_text_unref(h->json);
        h->json = NULL;
    }
    if (st->range && h->cyctime >= st->range_from && h->cyctime < st->range_to)
        drop_range(st);
}

void
state_free(struct state *st)
{
    size_t i;

    if (!st)
        return;
    for (i = 0; i < st->count; i++)
        hinst_free(st->all[i]);
    free(st->all);
    free(st->hash);
    json_decref(st->paused);
    json_decref(st->last_reload);
    inst_text_unref(st->range);
    free(st);
}

/* The instance of the id of id_len bytes at id, whose otsync_strhash is hash (a replay's id
 * is a slice of its record, hashed on the replay's second thread). */
static struct hinst *
find(struct state *st, const char *id, size_t id_len, size_t hash)
{
    size_t i;

    if (!st->hash_size)
        return NULL;
    for (i = hash & (st->hash_size - 1); st->hash[i]; i = (i + 1) & (st->hash_size - 1)) {
        const struct hinst *h = st->hash[i];
        if (h->hash == hash && strncmp(h->id, id, id_len) == 0 && h->id[id_len] == '\0')
            return st->hash[i];
    }
    return NULL;
}

struct hinst *
state_get(struct state *st, const char *id)
{
    size_t n = strlen(id);

    return find(st, id, n, otsync_strhash_n(id, n));
}

static void
hash_put(struct hinst **hash, size_t size, struct hinst *h)
{
    size_t i;

    for (i = h->hash & (size - 1); hash[i]; i = (i + 1) & (size - 1))
        ;
    hash[i] = h;
}

static int
rehash(struct state *st, size_t size)
{
    struct hinst **nh = calloc(size, sizeof(*nh));
    size_t i;

    if (!nh)
        return -OTSYNC_ENOMEM;
    for (i = 0; i < st->count; i++)
        hash_put(nh, size, st->all[i]);
    free(st->hash);
    st->hash = nh;
    st->hash_size = size;
    return 0;
}

/* An id "task@yyyymmddhh24miss" of id_len bytes: its cycle's text to cyc, and the length of
 * its task; -1 when the id is not so made. */
static ssize_t
id_split(const char *id, size_t id_len, char cyc[15])
{
    size_t i;

    if (id_len < 16 || id[id_len - 15] != '@')
        return -1;
    for (i = id_len - 14; i < id_len; i++)
        if (id[i] < '0' || id[i] > '9')
            return -1;
    memcpy(cyc, id + id_len - 14, 14);
    cyc[14] = '\0';
    return (ssize_t)(id_len - 15);
}

static struct hinst *
hinst_add(struct state *st, const char *id, size_t id_len, size_t hash, const char *task,
          size_t task_len, time_t cyctime)
{
    struct hinst *h;

    if ((st->count + 1) * 2 > st->hash_size
        && rehash(st, st->hash_size ? st->hash_size * 2 : 1024) < 0)
        return NULL;
    if (st->count == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 1024;
        struct hinst **na = realloc(st->all, cap * sizeof(*na));
        if (!na)
            return NULL;
        st->all = na;
        st->cap = cap;
    }
    /* the id and task in the instance's own block: one allocation where three were */
    if (!(h = calloc(1, sizeof(*h) + id_len + 1 + task_len + 1)))
        return NULL;
    h->id = (char *)(h + 1);
    memcpy(h->id, id, id_len);
    h->id[id_len] = '\0';
    h->task = h->id + id_len + 1;
    memcpy(h->task, task, task_len);
    h->task[task_len] = '\0';
    h->hash = hash;
    h->cyctime = cyctime;
    h->state = SCHED_WAITING;
    touch(st, h);
    st->all[st->count++] = h;
    hash_put(st->hash, st->hash_size, h);
    if (st->count > 1 && st->sorted) {
        const struct hinst *p = st->all[st->count - 2];
        st->sorted = p->cyctime < h->cyctime
                     || (p->cyctime == h->cyctime && strcmp(p->task, h->task) < 0);
    }
    return h;
}

static const char *
jstr(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* The members of a record state_apply looks at, found in one walk over it: a record has about
 * eight, and looking each name up would hash it (fifteen lookups per record, most missing). */
struct fields {
    json_t *t, *id, *at, *task, *cyc, *ct, *state, *attempt, *base, *params, *stats, *pid,
           *retry_at, *created_at, *started_at, *ended_at, *backfill, *reason;
    bool params_last;           /* "params" is the last member */
    bool nested;                /* a member other than "params" holds an object or array */
};

static void
collect(json_t *rec, struct fields *f)
{
    const char *k;
    json_t *v;

    memset(f, 0, sizeof(*f));
    json_object_foreach(rec, k, v) {
        json_t **slot = NULL;
        switch (k[0]) {
        case 't': slot = !strcmp(k, "t") ? &f->t : !strcmp(k, "task") ? &f->task : NULL; break;
        case 'i': slot = !strcmp(k, "id") ? &f->id : NULL; break;
        case 'a': slot = !strcmp(k, "at") ? &f->at : !strcmp(k, "attempt") ? &f->attempt : NULL;
                  break;
        case 'b': slot = !strcmp(k, "base") ? &f->base : !strcmp(k, "backfill") ? &f->backfill
                         : NULL;
                  break;
        case 'c': slot = !strcmp(k, "cyc") ? &f->cyc : !strcmp(k, "ct") ? &f->ct
                         : !strcmp(k, "created_at") ? &f->created_at : NULL;
                  break;
        case 's': slot = !strcmp(k, "state") ? &f->state : !strcmp(k, "stats") ? &f->stats
                         : !strcmp(k, "started_at") ? &f->started_at : NULL;
                  break;
        case 'p': slot = !strcmp(k, "params") ? &f->params : !strcmp(k, "pid") ? &f->pid : NULL;
                  break;
        case 'r': slot = !strcmp(k, "retry_at") ? &f->retry_at : !strcmp(k, "reason")
                         ? &f->reason : NULL;
                  break;
        case 'e': slot = !strcmp(k, "ended_at") ? &f->ended_at : NULL; break;
        default: break;
        }
        if (slot)
            *slot = v;
        f->params_last = slot == &f->params;
        if (slot != &f->params && (json_is_object(v) || json_is_array(v)))
            f->nested = true;
    }
}

static void
set_reason(struct hinst *h, const char *reason)
{
    free(h->reason);
    h->reason = reason ? strdup(reason) : NULL;
}

/* Applies an instance's fields present in the record (created, state, inst records share
 * them; so do pid and stats, which carry one each). */
static void
apply_fields(struct hinst *h, const struct fields *f)
{
    const char *s;
    int state;

    if ((s = json_string_value(f->state)) && (state = sched_state_parse(s)) >= 0)
        h->state = state;
    if (f->attempt)
        h->attempts = (int)json_integer_value(f->attempt);
    if (f->base)
        h->rerun_base = (int)json_integer_value(f->base);
    if (json_is_object(f->params)) {
        free(h->params);
        h->params = json_object_size(f->params) ? json_dumps(f->params, JSON_COMPACT) : NULL;
    }
    if (json_is_object(f->stats)) {
        free(h->stats);
        h->stats = json_dumps(f->stats, JSON_COMPACT);
    }
    if (f->pid)
        h->pid = (int)json_integer_value(f->pid);
    if (f->retry_at)
        h->next_try_at = (time_t)json_integer_value(f->retry_at);
    if (f->created_at)
        h->created_at = (time_t)json_integer_value(f->created_at);
    if (f->started_at)
        h->started_at = (time_t)json_integer_value(f->started_at);
    if (f->ended_at)
        h->ended_at = (time_t)json_integer_value(f->ended_at);
    if (f->backfill)
        h->backfill = json_is_true(f->backfill);
    if (f->reason)
        set_reason(h, json_string_value(f->reason));
}

int
state_apply(void *arg, json_t *rec, const char *segment, uint64_t offset)
{
    struct state *st = arg;
    struct fields f;
    const char *t, *id;
    struct hinst *h;
    time_t at;

    collect(rec, &f);
    t = json_string_value(f.t);
    id = json_string_value(f.id);
    h = id ? state_get(st, id) : NULL;
    at = (time_t)json_integer_value(f.at);
    if (h)
        touch(st, h);   /* whatever this record says, the texts may be stale */
    (void)segment;
    (void)offset;
    st->records++;
    if (at > st->last_at)
        st->last_at = at;
    if (!t)
        return 0;       /* a record from a newer otsyncd: not ours to judge */
    if (strcmp(t, "created") == 0 || strcmp(t, "inst") == 0) {
        const char *task = json_string_value(f.task), *cyc = json_string_value(f.cyc);
        char idcyc[15];
        ssize_t tl = id ? id_split(id, strlen(id), idcyc) : -1;
        time_t c;
        /* "ct" (the instant) spares a mktime per record, which glibc makes slow in zones with
         * rules; task and cyc are the id's unless the record says otherwise */
        if (!id || ((!task || !cyc) && tl < 0))
            return 0;
        if (!cyc)
            cyc = idcyc;
        if (json_is_integer(f.ct))
            c = (time_t)json_integer_value(f.ct);
        else if (vars_parse_time(cyc, &c) < 0)
            return 0;
        if (!h && !(h = hinst_add(st, id, strlen(id), otsync_strhash(id), task ? task : id,
                                  task ? strlen(task) : (size_t)tl, c)))
            return -OTSYNC_ENOMEM;
        if (strcmp(t, "created") == 0) {
            /* created again (a rerun of an instance the scheduler had freed keeps its id) */
            h->created_at = at;
            if (!f.state)
                h->state = SCHED_WAITING;
        }
        apply_fields(h, &f);
    } else if (!h) {
        if (strcmp(t, "reload") == 0) {
            json_decref(st->last_reload);
            st->last_reload = json_incref(rec);
        } else if (strcmp(t, "paused") == 0 || (strcmp(t, "op") == 0 && jstr(rec, "task")
                   && json_is_true(json_object_get(rec, "ok")))) {
            const char *task = jstr(rec, "task"), *what = jstr(rec, "what");
            bool p = strcmp(t, "paused") == 0 ? json_is_true(json_object_get(rec, "paused"))
                     : what && strcmp(what, "pause") == 0;
            if (task && (strcmp(t, "paused") == 0 || (what && (strcmp(what, "pause") == 0
                                                       || strcmp(what, "resume") == 0)))) {
                if (p)
                    json_object_set_new(st->paused, task, json_true());
                else
                    json_object_del(st->paused, task);
            }
        }
    } else if (strcmp(t, "state") == 0) {
        apply_fields(h, &f);
        if (h->state == SCHED_RUNNING) {
            h->started_at = at;
            h->pid = 0;
        } else if (h->state != SCHED_WAITING) {
            h->ended_at = at;
        }
    } else if (strcmp(t, "pid") == 0 || strcmp(t, "stats") == 0) {
        apply_fields(h, &f);
    }
    return 0;
}

/*
 * The replay's fast path (journal_opts.prepare): otsyncd packs every instance record as
 * {"t":"<type>","id":"<id>",...} and a replay has the id's instance to find before anything
 * else, so a record so laid out (a plain id: printable ASCII, nothing JSON escapes) is parsed
 * from its third member on, as "{" followed by the rest - valid exactly when the whole is,
 * unless the rest is empty (the whole would end in ",}"). The parse, the walk over its members
 * and the texts kept of them (params, stats) are done on the preparing thread; applying is
 * then a lookup and a few stores. Any other record goes to state_apply whole.
 */
enum prep_type { P_CREATED, P_INST, P_STATE, P_PID, P_STATS };

enum {
    HAS_ATTEMPT = 1 << 0, HAS_BASE = 1 << 1, HAS_PARAMS = 1 << 2, HAS_STATS = 1 << 3,
    HAS_PID = 1 << 4, HAS_RETRY_AT = 1 << 5, HAS_CREATED_AT = 1 << 6, HAS_STARTED_AT = 1 << 7,
    HAS_ENDED_AT = 1 << 8, HAS_BACKFILL = 1 << 9, HAS_REASON = 1 << 10, HAS_CYC = 1 << 11,
    HAS_CT = 1 << 12, HAS_ID_TASK = 1 << 13,
};

struct state_prep {
    enum prep_type type;
    unsigned has;
    int state;                  /* -1: no known state name */
    int attempt, base, pid;
    bool backfill;
    time_t at, c, retry_at, created_at, started_at, ended_at;   /* c: cyc's instant */
    char *task, *params, *stats, *reason;                       /* owned; NULL when none */
    size_t task_len;            /* HAS_ID_TASK: the task is the id's first task_len bytes */
    size_t hash;                /* otsync_strhash(id) */
    const char *id;             /* a slice of the record (journal.h: it outlives prep) */
    size_t id_len;
};

const size_t state_prep_size = sizeof(struct state_prep);

#define PREP_HEAD "{\"t\":\""
#define PREP_ID "\",\"id\":\""
#define PREP_STATS "\",\"stats\":{"
#define PREP_ID_MAX 1024        /* a longer id goes to state_apply */

/*
 * A created record's params as the text the record holds (otsyncd wrote it as json_dumps
 * would: dumping the parsed object again was an eighth of a replay), or a fresh dump when
 * that text cannot be told for sure. m: the record's members after the id, up to its closing
 * brace; parsed without duplicate keys. The first `,"params":{` in m is a "params" key (a `"`
 * after a `,` opens a string and cannot be inside one) at the top level when every other
 * top-level value is a scalar, so, no key being there twice, it is the record's params; and
 * when params is the last member its text runs from that `{` to the record's closing brace.
 * The text is then valid JSON whose parse is f->params (whitespace and escapes as written:
 * state_params parses it before anyone sees it).
 */
static char *
params_text(const char *m, size_t n, const struct fields *f)
{
    static const char key[] = ",\"params\":{";
    const char *at;

    if (!f->params_last || f->nested || n < 2 || m[n - 1] != '}'
        || !(at = memmem(m, n, key, strlen(key))))
        return json_dumps(f->params, JSON_COMPACT);
    at += strlen(key) - 1;
    return strndup(at, (size_t)(m + n - 1 - at));
}

int
state_prepare(void *prep, const char *p, size_t len)
{
    static const char *const types[] = {"created", "inst", "state", "pid", "stats"};
    struct state_prep *sp = prep;
    size_t i = strlen(PREP_HEAD), tl, il, rl;
    char small[1024], *rest;
    const char *s;
    struct fields f;
    json_t *rec;
    bool in_arena;
    int k;

    if (len < i || memcmp(p, PREP_HEAD, i) != 0)
        return JOURNAL_PARSE;
    for (tl = 0; i + tl < len && tl < 8 && p[i + tl] >= 'a' && p[i + tl] <= 'z'; tl++)
        ;
    for (k = 0; k < 5 && (strlen(types[k]) != tl || memcmp(p + i, types[k], tl) != 0); k++)
        ;
    i += tl;
    if (k == 5 || len - i < strlen(PREP_ID) || memcmp(p + i, PREP_ID, strlen(PREP_ID)) != 0)
        return JOURNAL_PARSE;
    i += strlen(PREP_ID);
    for (il = 0; i + il < len && il < PREP_ID_MAX && p[i + il] != '"'; il++)
        if ((unsigned char)p[i + il] < 0x20 || (unsigned char)p[i + il] > 0x7e
            || p[i + il] == '\\')
            return JOURNAL_PARSE;
    if (il == 0 || i + il + 1 >= len || p[i + il] != '"' || p[i + il + 1] != ',')
        return JOURNAL_PARSE;
    if (k == P_STATS && len - (i + il) >= strlen(PREP_STATS) + 2
        && memcmp(p + i + il, PREP_STATS, strlen(PREP_STATS)) == 0 && p[len - 2] == '}') {
        /* a job's summary is only ever shown: kept as the text it came as (what a parse and
         * a dump of it make of a record otsyncd wrote), parsed when shown (state_inst_json) */
        size_t v = i + il + strlen(PREP_STATS) - 1;     /* its "{" */
        memset(sp, 0, sizeof(*sp));
        sp->type = P_STATS;
        sp->id = p + i;
        sp->id_len = il;
        sp->hash = otsync_strhash_n(sp->id, il);
        sp->state = -1;
        sp->has = HAS_STATS;
        sp->stats = strndup(p + v, len - 1 - v);
        return 0;
    }
    /* "{" and the members after the id */
    rl = len - (i + il + 1);
    if (!(rest = rl <= sizeof(small) ? small : malloc(rl)))
        return JOURNAL_PARSE;
    rest[0] = '{';
    memcpy(rest + 1, p + i + il + 2, rl - 1);
    /* the tree lives until this function returns: its memory from this thread's arena (the
     * previous record's tree is gone), the texts kept of it from malloc */
    jsonarena_reset();
    jsonarena_on();
    /* a created record's params are kept as their text (params_text): no key may be there
     * twice, or the text found could be the one the parse let the other replace */
    rec = json_loadb(rest, rl, k == P_CREATED ? JSON_REJECT_DUPLICATES : 0, NULL);
    in_arena = jsonarena_off();
    if (rest != small)
        free(rest);
    if (!rec && k == P_CREATED)
        return JOURNAL_PARSE;   /* invalid, or a key twice: state_apply's to judge */
    if (!json_is_object(rec) || json_object_size(rec) == 0) {
        json_decref(rec);
        return -OTSYNC_ECORRUPT;
    }
    collect(rec, &f);
    if (f.t || f.id) {
        /* a second "t" or "id": the last one counts, and that is state_apply's to see */
        json_decref(rec);
        return JOURNAL_PARSE;
    }
    memset(sp, 0, sizeof(*sp));
    sp->type = (enum prep_type)k;
    sp->id = p + i;
    sp->id_len = il;
    sp->hash = otsync_strhash_n(sp->id, il);
    sp->at = (time_t)json_integer_value(f.at);
    sp->state = (s = json_string_value(f.state)) ? sched_state_parse(s) : -1;
    if (f.attempt) {
        sp->has |= HAS_ATTEMPT;
        sp->attempt = (int)json_integer_value(f.attempt);
    }
    if (f.base) {
        sp->has |= HAS_BASE;
        sp->base = (int)json_integer_value(f.base);
    }
    if (json_is_object(f.params)) {
        sp->has |= HAS_PARAMS;
        sp->params = !json_object_size(f.params) ? NULL
                     : k == P_CREATED ? params_text(p + i + il + 2, len - (i + il + 2), &f)
                     : json_dumps(f.params, JSON_COMPACT);
    }
    if (json_is_object(f.stats)) {
        sp->has |= HAS_STATS;
        sp->stats = json_dumps(f.stats, JSON_COMPACT);
    }
    if (f.pid) {
        sp->has |= HAS_PID;
        sp->pid = (int)json_integer_value(f.pid);
    }
    if (f.retry_at) {
        sp->has |= HAS_RETRY_AT;
        sp->retry_at = (time_t)json_integer_value(f.retry_at);
    }
    if (f.created_at) {
        sp->has |= HAS_CREATED_AT;
        sp->created_at = (time_t)json_integer_value(f.created_at);
    }
    if (f.started_at) {
        sp->has |= HAS_STARTED_AT;
        sp->started_at = (time_t)json_integer_value(f.started_at);
    }
    if (f.ended_at) {
        sp->has |= HAS_ENDED_AT;
        sp->ended_at = (time_t)json_integer_value(f.ended_at);
    }
    if (f.backfill) {
        sp->has |= HAS_BACKFILL;
        sp->backfill = json_is_true(f.backfill);
    }
    if (f.reason) {
        sp->has |= HAS_REASON;
        sp->reason = (s = json_string_value(f.reason)) ? strdup(s) : NULL;
    }
    if (sp->type == P_CREATED || sp->type == P_INST) {
        char idcyc[15];
        ssize_t itl = id_split(sp->id, sp->id_len, idcyc);
        if (k == P_CREATED && !f.state)
            sp->state = SCHED_WAITING;
        if ((s = json_string_value(f.task))) {
            sp->task = strdup(s);
        } else if (itl >= 0) {
            sp->has |= HAS_ID_TASK;
            sp->task_len = (size_t)itl;
        }
        if ((s = json_string_value(f.cyc)) || (itl >= 0 && (s = idcyc))) {
            sp->has |= HAS_CYC;
            if (json_is_integer(f.ct)) {
                sp->has |= HAS_CT;
                sp->c = (time_t)json_integer_value(f.ct);
            } else if (vars_parse_time(s, &sp->c) == 0) {
                sp->has |= HAS_CT;
            }
        }
    }
    if (!in_arena)
        json_decref(rec);       /* else the next record's jsonarena_reset takes it back */
    return 0;
}

void
state_release_prep(void *prep)
{
    struct state_prep *sp = prep;

    free(sp->task);
    free(sp->params);
    free(sp->stats);
    free(sp->reason);
    sp->task = sp->params = sp->stats = sp->reason = NULL;
}

/* apply_fields for a prepared record: takes its texts. */
static void
apply_prep_fields(struct hinst *h, struct state_prep *sp)
{
    if (sp->state >= 0)
        h->state = sp->state;
    if (sp->has & HAS_ATTEMPT)
        h->attempts = sp->attempt;
    if (sp->has & HAS_BASE)
        h->rerun_base = sp->base;
    if (sp->has & HAS_PARAMS) {
        free(h->params);
        h->params = sp->params;
        sp->params = NULL;
    }
    if (sp->has & HAS_STATS) {
        free(h->stats);
        h->stats = sp->stats;
        sp->stats = NULL;
    }
    if (sp->has & HAS_PID)
        h->pid = sp->pid;
    if (sp->has & HAS_RETRY_AT)
        h->next_try_at = sp->retry_at;
    if (sp->has & HAS_CREATED_AT)
        h->created_at = sp->created_at;
    if (sp->has & HAS_STARTED_AT)
        h->started_at = sp->started_at;
    if (sp->has & HAS_ENDED_AT)
        h->ended_at = sp->ended_at;
    if (sp->has & HAS_BACKFILL)
        h->backfill = sp->backfill;
    if (sp->has & HAS_REASON) {
        free(h->reason);
        h->reason = sp->reason;
        sp->reason = NULL;
    }
}

int
state_apply_prep(void *arg, void *prep, const char *segment, uint64_t offset)
{
    struct state *st = arg;
    struct state_prep *sp = prep;
    struct hinst *h = find(st, sp->id, sp->id_len, sp->hash);
    int rc = 0;

    /* state_apply's steps, in its order, for the record types a prepared one can be */
    (void)segment;
    (void)offset;
    if (h)
        touch(st, h);
    st->records++;
    if (sp->at > st->last_at)
        st->last_at = sp->at;
    switch (sp->type) {
    case P_CREATED:
    case P_INST:
        if ((!sp->task && !(sp->has & HAS_ID_TASK)) || !(sp->has & HAS_CYC)
            || !(sp->has & HAS_CT))
            break;
        if (!h && !(h = hinst_add(st, sp->id, sp->id_len, sp->hash,
                                  sp->task ? sp->task : sp->id,
                                  sp->task ? strlen(sp->task) : sp->task_len, sp->c))) {
            rc = -OTSYNC_ENOMEM;
            break;
        }
        if (sp->type == P_CREATED)
            h->created_at = sp->at;
        apply_prep_fields(h, sp);
        break;
    case P_STATE:
        if (!h)
            break;
        apply_prep_fields(h, sp);
        if (h->state == SCHED_RUNNING) {
            h->started_at = sp->at;
            h->pid = 0;
        } else if (h->state != SCHED_WAITING) {
            h->ended_at = sp->at;
        }
        break;
    case P_PID:
    case P_STATS:
        if (h)
            apply_prep_fields(h, sp);
        break;
    }
    state_release_prep(sp);
    return rc;
}

int
state_record(struct state *st, struct journal *j, json_t *rec, bool durable,
             struct otsync_err *err)
{
    int rc = journal_append(j, rec, durable, err);

    if (rc == 0)
        rc = state_apply(st, rec, NULL, 0);
    json_decref(rec);
    return rc;
}

static int
cmp_hinst(const void *a, const void *b)
{
    const struct hinst *x = *(struct hinst *const *)a, *y = *(struct hinst *const *)b;

    if (x->cyctime != y->cyctime)
        return x->cyctime < y->cyctime ? -1 : 1;
    return strcmp(x->task, y->task);
}

size_t
state_list(struct state *st, struct hinst *const **ret)
{
    if (!st->sorted) {
        if (st->count > 1)
            qsort(st->all, st->count, sizeof(*st->all), cmp_hinst);
        st->sorted = true;
    }
    *ret = st->all;
    return st->count;
}

size_t
state_first_at(struct state *st, time_t t)
{
    struct hinst *const *all;
    size_t lo = 0, hi = state_list(st, &all);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (all[mid]->cyctime < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool
state_paused(const struct state *st, const char *task)
{
    return json_object_get(st->paused, task) != NULL;
}

const json_t *
state_paused_tasks(const struct state *st)
{
    return st->paused;
}

const json_t *
state_last_reload(const struct state *st)
{
    return st->last_reload;
}

uint64_t
state_records(const struct state *st)
{
    return st->records;
}

json_t *
state_params(const struct hinst *h)
{
    json_t *p = h->params ? json_loads(h->params, 0, NULL) : NULL;

    if (p && !json_is_object(p)) {
        json_decref(p);
        p = NULL;
    }
    return p ? p : json_object();
}

json_t *
state_inst_json(const struct hinst *h, bool with_stats)
{
    char ts[15];
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", h->id, "task", h->task, "cyctime",
                          vars_format_cyctime(h->cyctime, ts), "state",
                          sched_state_name(h->state), "attempts", h->attempts);

    if (!o)
        return NULL;
    json_object_set_new(o, "params", state_params(h));
    if (h->reason)
        json_object_set_new(o, "reason", json_string(h->reason));
    if (h->created_at)
        json_object_set_new(o, "created_at", json_integer(h->created_at));
    if (h->started_at)
        json_object_set_new(o, "started_at", json_integer(h->started_at));
    if (h->ended_at)
        json_object_set_new(o, "ended_at", json_integer(h->ended_at));
    if (h->state == SCHED_RETRY_WAIT)
        json_object_set_new(o, "retry_at", json_integer(h->next_try_at));
    if (h->state == SCHED_RUNNING && h->pid)
        json_object_set_new(o, "pid", json_integer(h->pid));
    if (h->backfill)
        json_object_set_new(o, "backfill", json_true());
    if (with_stats && h->stats) {
        json_t *stats = json_loads(h->stats, 0, NULL);
        if (stats)
            json_object_set_new(o, "stats", stats);
    }
    return o;
}

struct inst_text *
inst_text_new(const char *s, size_t len)
{
    struct inst_text *t = malloc(sizeof(*t) + len + 1);

    if (!t)
        return NULL;
    t->refs = 1;
    t->len = len;
    t->whole = NULL;
    if (s)
        memcpy(t->own, s, len);
    t->own[len] = '\0';
    t->text = t->own;
    return t;
}

void
inst_text_ref(struct inst_text *t)
{
    t->refs++;
}

void
inst_text_unref(struct inst_text *t)
{
    if (t && --t->refs == 0) {
        inst_text_unref(t->whole);
        free(t);
    }
}

struct inst_text *
state_inst_text(struct hinst *h)
{
    json_t *o;
    char *s;

    if (!h->json) {
        if (!(o = state_inst_json(h, false)))
            return NULL;
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!s)
            return NULL;
        h->json = inst_text_new(s, strlen(s));
        free(s);
    }
    return h->json;
}

static bool
finished(const struct hinst *h)
{
    return h->state == SCHED_SUCCESS || h->state == SCHED_FAILED || h->state == SCHED_KILLED
           || h->state == SCHED_SKIPPED;
}

struct inst_text *
state_range_text(struct state *st, time_t from, time_t to, size_t *ret_count)
{
    struct hinst *const *all;
    size_t n = state_list(st, &all), lo, i, end, total = 0, off = 0;
    struct inst_text *whole;

    if (st->range && st->range_from == from && st->range_to == to) {
        *ret_count = st->range_count;
        return st->range;
    }
    lo = state_first_at(st, from);
    for (end = lo; end < n && all[end]->cyctime < to; end++) {
        /* only a range that is over: anything still to run would change it soon */
        if (!finished(all[end]) || !state_inst_text(all[end]))
            return NULL;
        total += all[end]->json->len + 1;
    }
    if (end == lo || !(whole = inst_text_new(NULL, total - 1)))
        return NULL;
    for (i = lo; i < end; i++) {
        memcpy(whole->own + off, all[i]->json->text, all[i]->json->len);
        off += all[i]->json->len;
        if (i + 1 < end)
            whole->own[off++] = ',';
    }
    /* each instance's text becomes a slice of the whole, so the day is not held twice */
    for (i = lo, off = 0; i < end; i++) {
        struct inst_text *v = malloc(sizeof(*v));
        if (v) {
            v->refs = 1;
            v->len = all[i]->json->len;
            v->text = whole->own + off;
            v->whole = whole;
            inst_text_ref(whole);
            inst_text_unref(all[i]->json);
            all[i]->json = v;
        }
        off += all[i]->json->len + 1;
    }
    drop_range(st);
    st->range = whole;
    st->range_from = from;
    st->range_to = to;
    st->range_count = end - lo;
    *ret_count = end - lo;
    return whole;
}

int
state_snapshot(struct state *st, struct journal *j, time_t keep_after, size_t *ret_dropped,
               struct otsync_err *err)
{
    size_t i, kept = 0, dropped = 0;
    const char *task;
    json_t *v;
    int rc = 0;

    for (i = 0; i < st->count; i++) {
        struct hinst *h = st->all[i];
        bool final = h->state == SCHED_SUCCESS || h->state == SCHED_FAILED
                     || h->state == SCHED_KILLED || h->state == SCHED_SKIPPED;
        json_t *rec;
        if (final && h->cyctime < keep_after) {
            touch(st, h);
            hinst_free(h);
            dropped++;
            continue;
        }
        st->all[kept++] = h;
        if (rc < 0)
            continue;
        if (!(rec = state_inst_json(h, true))) {
            rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            continue;
        }
        json_object_set_new(rec, "t", json_string("inst"));
        json_object_set_new(rec, "cyc", json_incref(json_object_get(rec, "cyctime")));
        json_object_set_new(rec, "ct", json_integer(h->cyctime));
        json_object_set_new(rec, "attempt", json_integer(h->attempts));
        json_object_set_new(rec, "base", json_integer(h->rerun_base));
        if (h->pid)
            json_object_set_new(rec, "pid", json_integer(h->pid));
        rc = journal_append(j, rec, false, err);
        json_decref(rec);
    }
    st->count = kept;
    if (dropped && rehash(st, st->hash_size) < 0 && rc == 0)
        rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    json_object_foreach(st->paused, task, v) {
        json_t *rec = json_pack("{s:s, s:s, s:b}", "t", "paused", "task", task, "paused", 1);
        if (rc == 0 && rec)
            rc = journal_append(j, rec, false, err);
        json_decref(rec);
    }
    if (rc == 0 && st->last_reload)
        rc = journal_append(j, st->last_reload, false, err);
    if (ret_dropped)
        *ret_dropped = dropped;
    return rc;
}

size_t
state_count(const struct state *st)
{
    return st->count;
}

/* Closes an archive file after making it durable; 0 or -OTSYNC_ESYS. */
static int
close_day(FILE *f, const char *path, struct otsync_err *err)
{
    int bad = fflush(f) != 0 || fdatasync(fileno(f)) != 0;
    int e = errno;

    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return bad ? otsync_err_errno(err, e, "%s", path) : 0;
}

int
state_archive(struct state *st, const char *dir, size_t keep, size_t *ret_n,
              struct otsync_err *err)
{
    struct hinst *const *all;
    size_t n = state_list(st, &all), i, done = 0, nfinished = 0, kept = 0, move;
    char day[9] = "", path[4200], ts[15];
    unsigned char *newest;
    json_t *seen;
    FILE *f = NULL;
    int rc = 0;

    *ret_n = 0;
    for (i = 0; i < n; i++)
        nfinished += finished(all[i]);
    if (nfinished <= keep)
        return 0;
    move = nfinished - keep;
    if (!(newest = calloc(n, 1)) || !(seen = json_object())) {
        free(newest);
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    }
    for (i = n; i-- > 0;)
        if (!json_object_get(seen, all[i]->task)) {
            json_object_set_new(seen, all[i]->task, json_true());
            newest[i] = 1;
        }
    json_decref(seen);
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        free(newest);
        return otsync_err_errno(err, errno, "%s: mkdir", dir);
    }
    /* oldest first; the list is sorted, so the days come in order */
    for (i = 0; i < n && done < move && rc == 0; i++) {
        struct hinst *h = all[i];
        json_t *o;
        char *text;
        if (!finished(h) || newest[i])
            continue;
        vars_format_cyctime(h->cyctime, ts);
        if (!f || strncmp(day, ts, 8) != 0) {
            if (f && (rc = close_day(f, path, err)) < 0)
                break;
            memcpy(day, ts, 8);
            snprintf(path, sizeof(path), "%s/%s.jsonl", dir, day);
            if (!(f = fopen(path, "ae"))) {
                rc = otsync_err_errno(err, errno, "%s", path);
                break;
            }
        }
        if (!(o = state_inst_json(h, true)) || !(text = json_dumps(o, JSON_COMPACT))) {
            json_decref(o);
            rc = otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
            break;
        }
        json_decref(o);
        fprintf(f, "%s\n", text);
        free(text);
        newest[i] = 2;      /* archived */
        done++;
    }
    if (f && rc == 0)
        rc = close_day(f, path, err);
    else if (f)
        fclose(f);
    if (rc < 0) {
        free(newest);
        return rc;      /* nothing leaves memory: it is all still in the journal */
    }
    for (i = 0; i < n; i++) {
        if (newest[i] == 2) {
            touch(st, st->all[i]);
            hinst_free(st->all[i]);
        } else {
            st->all[kept++] = st->all[i];
        }
    }
    st->count = kept;
    free(newest);
    if (rehash(st, st->hash_size) < 0)
        return otsync_err_set(err, OTSYNC_ENOMEM, "out of memory");
    *ret_n = done;
    return 0;
}

void
state_archive_expire(const char *dir, const char *before)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort), i;
    char path[4200];

    for (i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (strlen(name) == 14 && strcmp(name + 8, ".jsonl") == 0 && strncmp(name, before, 8) < 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            unlink(path);
        }
        free(list[i]);
    }
    free(list);
}

int
state_archive_each(struct state *st, const char *dir, const char *date,
                   int (*fn)(void *arg, const char *line, size_t len, json_t *obj), void *arg)
{
    char path[4200], *line = NULL;
    size_t cap = 0;
    ssize_t len;
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%.8s.jsonl", dir, date);
    if (!(f = fopen(path, "re")))
        return errno == ENOENT ? 0 : -OTSYNC_ESYS;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        json_t *o;
        const char *id;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (!(o = json_loadb(line, (size_t)len, 0, NULL)) || !(id = json_string_value(
                                                                 json_object_get(o, "id")))) {
            json_decref(o);
            continue;   /* a line cut by a crash */
        }
        if (!st || !state_get(st, id))
            rc = fn(arg, line, (size_t)len, o);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return rc;
}

static int
find_cb(void *arg, const char *line, size_t len, json_t *obj)
{
    json_t **ret = arg;
    const char *want = json_string_value(*ret);

    (void)line;
    (void)len;
    if (strcmp(json_string_value(json_object_get(obj, "id")), want) == 0) {
        json_decref(*ret);
        *ret = json_incref(obj);
        return 1;
    }
    return 0;
}

json_t *
state_archive_find(const char *dir, const char *id)
{
    const char *at = strrchr(id, '@');
    json_t *ret;

    if (!at || strlen(at + 1) != 14 || !(ret = json_string(id)))
        return NULL;
    if (state_archive_each(NULL, dir, at + 1, find_cb, &ret) != 1 || !json_is_object(ret)) {
        json_decref(ret);
        return NULL;
    }
    return ret;
}

time_t
state_last_at(const struct state *st)
{
    time_t last = st->last_at;
    size_t i;

    /* a compacted journal keeps instances, not every record's time: they count too */
    for (i = 0; i < st->count; i++) {
        const struct hinst *h = st->all[i];

        if (h->created_at > last)
            last = h->created_at;
        if (h->started_at > last)
            last = h->started_at;
        if (h->ended_at > last)
            last = h->ended_at;
    }
    return last;
}
