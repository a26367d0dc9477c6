/*
 * notify.c - a NOTIFY's header values from an active_watchers row, built
 * as Kamailio's presence module builds them (ps_build_dlg_t), and the
 * RFC 3842 body.
 */
#include "sipbridge/mwi_notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int
mwi_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static int
mwi_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int
mwi_body_build(char *buf, size_t len, const struct mwi_counts *c,
               const char *account)
{
    int n = snprintf(buf, len, "Messages-Waiting: %s\r\n%s%s%s"
                     "Voice-Message: %u/%u (%u/%u)\r\n",
                     c->new_msgs ? "yes" : "no",
                     mwi_set(account) ? "Message-Account: " : "",
                     mwi_set(account) ? account : "",
                     mwi_set(account) ? "\r\n" : "",
                     c->new_msgs, c->old_msgs, c->urgent_new, c->urgent_old);

    return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* Kamailio appends the transport of its socket when the stored Contact
 * does not say it (nothing for UDP). */
static int
mwi_contact(const struct mwi_watcher *w, const char *fallback,
            char *buf, size_t len)
{
    const char *si = w->socket_info ? w->socket_info : "";
    const char *proto = NULL;

    if (!mwi_set(w->local_contact))
        return mwi_fmt(buf, len, "<%s>", fallback);
    if (strncasecmp(si, "tcp:", 4) == 0)
        proto = "tcp";
    else if (strncasecmp(si, "tls:", 4) == 0)
        proto = "tls";
    else if (strncasecmp(si, "sctp:", 5) == 0)
        proto = "sctp";
    if (proto == NULL || strcasestr(w->local_contact, ";transport=") != NULL)
        return mwi_fmt(buf, len, "<%s>", w->local_contact);
    return mwi_fmt(buf, len, "<%s;transport=%s>", w->local_contact, proto);
}

static int
mwi_check_row(const struct mwi_watcher *w)
{
    return mwi_set(w->callid) && mwi_set(w->to_tag) && mwi_set(w->from_tag)
           && mwi_set(w->to_user) && mwi_set(w->to_domain)
           && mwi_set(w->sub_domain) && w->local_cseq >= 0
           && w->local_cseq < 2147483647LL ? 0 : -EINVAL;
}

int
mwi_notify_build(const struct mwi_watcher *w, const struct mwi_counts *c,
                 const char *account, const char *fallback_contact,
                 time_t now, struct mwi_notify *out)
{
    /* expires comes from the database as any bigint: clamp before the
     * subtraction, which would overflow near LLONG_MIN (fuzz_mwi). */
    long long exp = w->expires < 0 ? 0 : w->expires;
    long long left = exp - (long long)now;
    int rc = mwi_check_row(w);

    if (rc == 0 && mwi_set(w->contact))
        rc = mwi_fmt(out->ruri, sizeof(out->ruri), "%s", w->contact);
    else if (rc == 0)
        rc = mwi_fmt(out->ruri, sizeof(out->ruri), "sip:%s%s%s",
                     w->sub_user ? w->sub_user : "",
                     mwi_set(w->sub_user) ? "@" : "", w->sub_domain);
    rc = rc ? rc : mwi_fmt(out->from, sizeof(out->from), "<sip:%s@%s>;tag=%s",
                           w->to_user, w->to_domain, w->to_tag);
    rc = rc ? rc : mwi_fmt(out->to, sizeof(out->to), "<sip:%s%s%s>;tag=%s",
                           w->sub_user ? w->sub_user : "",
                           mwi_set(w->sub_user) ? "@" : "", w->sub_domain,
                           w->from_tag);
    rc = rc ? rc : mwi_fmt(out->call_id, sizeof(out->call_id), "%s",
                           w->callid);
    rc = rc ? rc : mwi_fmt(out->cseq, sizeof(out->cseq), "%lld NOTIFY",
                           w->local_cseq + 1);
    rc = rc ? rc : mwi_fmt(out->route, sizeof(out->route), "%s",
                           w->record_route ? w->record_route : "");
    rc = rc ? rc : mwi_contact(w, fallback_contact, out->contact,
                               sizeof(out->contact));
    rc = rc ? rc : mwi_fmt(out->event, sizeof(out->event),
                           mwi_set(w->event_id) ? "message-summary;id=%s"
                                                : "message-summary%s",
                           mwi_set(w->event_id) ? w->event_id : "");
    rc = rc ? rc : mwi_fmt(out->substate, sizeof(out->substate),
                           "active;expires=%lld", left > 0 ? left : 0);
    if (rc == 0 && mwi_body_build(out->body, sizeof(out->body), c,
                                  account) < 0)
        rc = -EINVAL;
    return rc;
}
