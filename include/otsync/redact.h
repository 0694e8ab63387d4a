/*
 * redact.h - which names hold secrets, and hiding their values: the one rule the daemon (the
 * journal, ctl output, logs) and otsync-run (messages quoting the job) share, so a secret
 * never reaches a log, the journal or ctl output under any of them.
 */
#ifndef OTSYNC_REDACT_H
#define OTSYNC_REDACT_H

#include <stdbool.h>
#include <jansson.h>

/* What a hidden value reads as. */
#define REDACTED "<redacted>"

/*
 * Whether a parameter or JSON member of this name holds a secret: it contains, in any case,
 * secret, password, passwd, token, accesskey, access_key or credential (DataX's accessKey,
 * DataWorks' accessKeySecret, our access_key_secret, STS tokens...). A key id such as
 * access_key_id is hidden too: harmless, and simpler than a rule with exceptions.
 */
bool redact_name(const char *name);

/* Replaces in place the value of every string member of v, at any depth, whose name is a
 * secret's. */
void redact_json(json_t *v);

#endif
