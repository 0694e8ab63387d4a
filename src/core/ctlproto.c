/*
 * ctlproto.c - the table of ctl commands and the checks every request passes before the
 * daemon looks at it. A request is untrusted input from anyone in the socket's group.
 */
#include <string.h>
#include <time.h>
#include "otsync/ctlproto.h"
#include "otsync/sched.h"
#include "otsync/vars.h"

enum arg_kind { A_ID, A_TASK, A_DATE, A_TIME, A_STATE, A_BOOL, A_COUNT };

#define ARGS_MAX 6

struct arg {
    const char *name;
    enum arg_kind kind;
    int required;
};

struct command {
    const char *name;
    int read_only;
    struct arg args[ARGS_MAX];
};

static const struct command commands[] = {
    {"status", 1, {{NULL, 0, 0}}},
    {"tasks", 1, {{NULL, 0, 0}}},
    {"instances", 1, {{"task", A_TASK, 0}, {"date", A_DATE, 0}, {"state", A_STATE, 0},
                      {"tree", A_BOOL, 0}}},
    {"show", 1, {{"id", A_ID, 1}}},
    {"rerun", 0, {{"id", A_ID, 1}, {"downstream", A_BOOL, 0}}},
    {"kill", 0, {{"id", A_ID, 1}}},
    {"set-success", 0, {{"id", A_ID, 1}}},
    {"pause", 0, {{"task", A_TASK, 1}}},
    {"resume", 0, {{"task", A_TASK, 1}}},
    {"backfill", 0, {{"task", A_TASK, 1}, {"from", A_TIME, 1}, {"to", A_TIME, 1},
                     {"downstream", A_BOOL, 0}, {"parallel", A_COUNT, 0}}},
    {"render", 1, {{"task", A_TASK, 1}, {"at", A_TIME, 1}}},
    {"graph", 1, {{"task", A_TASK, 0}}},
    {"reload", 0, {{NULL, 0, 0}}},
};

static const struct command *
find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int
ctl_command_read_only(const char *cmd)
{
    const struct command *c = find(cmd);

    return c && c->read_only;
}

static int
task_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 128 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789_.-") == n;
}

static int
check_arg(const struct arg *a, json_t *v, struct otsync_err *err)
{
    const char *s = json_string_value(v);
    time_t t;

    if (a->kind == A_BOOL) {
        if (!json_is_boolean(v))
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s' must be true or false", a->name);
        return 0;
    }
    if (a->kind == A_COUNT) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000)
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s' must be a whole number from 1 to "
                                  "1000", a->name);
        return 0;
    }
    if (!s)
        return otsync_err_set(err, OTSYNC_EINVAL, "'%s' must be a string", a->name);
    switch (a->kind) {
    case A_TASK:
        if (!task_ok(s))
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s': not a task name", a->name);
        break;
    case A_ID: {
        const char *at = strrchr(s, '@');
        char task[129];
        if (!at || at == s || (size_t)(at - s) > 128 || strlen(at + 1) != 14
            || strspn(at + 1, "0123456789") != 14)
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s': an instance id is "
                                  "TASK@yyyymmddhh24miss", a->name);
        memcpy(task, s, (size_t)(at - s));
        task[at - s] = '\0';
        if (!task_ok(task) || vars_parse_time(at + 1, &t) < 0)
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s': an instance id is "
                                  "TASK@yyyymmddhh24miss", a->name);
        break;
    }
    case A_DATE: {
        char buf[16];
        if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s': a date is YYYY-MM-DD", a->name);
        snprintf(buf, sizeof(buf), "%.4s%.2s%.2s", s, s + 5, s + 8);
        if (strspn(buf, "0123456789") != 8 || vars_parse_time(buf, &t) < 0)
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s': a date is YYYY-MM-DD", a->name);
        break;
    }
    case A_TIME:
        if (vars_parse_time(s, &t) < 0)
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s': a time is yyyymmddhh24miss or "
                                  "YYYY-MM-DDTHH:MM:SS", a->name);
        break;
    case A_STATE:
        if (sched_state_parse(s) < 0)
            return otsync_err_set(err, OTSYNC_EINVAL, "'%s': no state '%.40s' (waiting, "
                                  "running, retry_wait, success, failed, killed, skipped)",
                                  a->name, s);
        break;
    default:
        break;
    }
    return 0;
}

int
ctl_request_parse(const char *buf, size_t len, json_t **ret_req, struct otsync_err *err)
{
    const struct command *c;
    const char *key, *cmd;
    json_error_t je;
    json_t *req, *v;
    size_t i;
    int rc;

    *ret_req = NULL;
    if (len > CTL_REQUEST_MAX)
        return otsync_err_set(err, OTSYNC_EINVAL, "request longer than %d bytes",
                              CTL_REQUEST_MAX);
    req = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!req)
        return otsync_err_set(err, OTSYNC_EINVAL, "not JSON: %s at column %d", je.text,
                              je.column);
    if (!json_is_object(req)) {
        json_decref(req);
        return otsync_err_set(err, OTSYNC_EINVAL, "a request is a JSON object");
    }
    if (!(cmd = json_string_value(json_object_get(req, "cmd")))) {
        json_decref(req);
        return otsync_err_set(err, OTSYNC_EINVAL, "'cmd' must be a string");
    }
    if (!(c = find(cmd))) {
        rc = otsync_err_set(err, OTSYNC_EINVAL, "unknown command '%.40s'", cmd);
        json_decref(req);
        return rc;
    }
    json_object_foreach(req, key, v) {
        if (strcmp(key, "cmd") == 0)
            continue;
        for (i = 0; i < ARGS_MAX && c->args[i].name && strcmp(c->args[i].name, key) != 0; i++)
            ;
        if (i == ARGS_MAX || !c->args[i].name) {
            rc = otsync_err_set(err, OTSYNC_EINVAL, "%s takes no argument '%.40s'", c->name, key);
            json_decref(req);
            return rc;
        }
        if ((rc = check_arg(&c->args[i], v, err)) < 0) {
            otsync_err_prefix(err, "%s", c->name);
            json_decref(req);
            return rc;
        }
    }
    for (i = 0; i < ARGS_MAX && c->args[i].name; i++)
        if (c->args[i].required && !json_object_get(req, c->args[i].name)) {
            rc = otsync_err_set(err, OTSYNC_EINVAL, "%s needs '%s'", c->name, c->args[i].name);
            json_decref(req);
            return rc;
        }
    *ret_req = req;
    return 0;
}
