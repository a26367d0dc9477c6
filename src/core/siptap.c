/*
 * siptap.c - the SIP stack's traffic, seen where it enters and leaves.
 *
 * Overrides of four sofia-sip functions nta and tport call through the
 * PLT (the technique of sipfix.c): each calls the library's own through
 * dlsym(RTLD_NEXT) and changes nothing it does.  Counting here rather
 * than in each capability catches what nua and nta answer by themselves
 * (OPTIONS, 481, 489, stateless 400s) and every retransmission.
 */
#include <dlfcn.h>
#include <errno.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/tport.h>

#include "sipbridge/siptap.h"

/* Not in the installed headers: tport_internal.h's prototype. */
struct tport_compressor;
void tport_deliver(tport_t *self, msg_t *msg, msg_t *next,
                   struct tport_compressor *sc, su_time_t now);

/* The library calls these; no daemon context can reach them, so the hook
 * and the agent are the one piece of state kept outside it. */
static siptap_cb siptap_hook;
static void *siptap_arg;
static nta_agent_t *siptap_agent;

/* The library's own functions. */
static tport_t *(*real_tsend)(tport_t *, msg_t *, tp_name_t const *,
                              tag_type_t, tag_value_t, ...);
static void (*real_deliver)(tport_t *, msg_t *, msg_t *,
                            struct tport_compressor *, su_time_t);
static nta_agent_t *(*real_agent_create)(su_root_t *, url_string_t const *,
                                         nta_message_f *, nta_agent_magic_t *,
                                         tag_type_t, tag_value_t, ...);
static void (*real_agent_destroy)(nta_agent_t *);

/* Without the library's functions the stack could neither send nor
 * receive: sip_create() fails the start instead. */
int
siptap_init(void)
{
    if (real_tsend == NULL)
        *(void **)&real_tsend = dlsym(RTLD_NEXT, "tport_tsend");
    if (real_deliver == NULL)
        *(void **)&real_deliver = dlsym(RTLD_NEXT, "tport_deliver");
    if (real_agent_create == NULL)
        *(void **)&real_agent_create = dlsym(RTLD_NEXT, "nta_agent_create");
    if (real_agent_destroy == NULL)
        *(void **)&real_agent_destroy = dlsym(RTLD_NEXT, "nta_agent_destroy");
    return real_tsend && real_deliver && real_agent_create &&
           real_agent_destroy ? 0 : -ENOSYS;
}

void
siptap_set_hook(siptap_cb cb, void *arg)
{
    siptap_hook = cb;
    siptap_arg = arg;
}

static void
siptap_show(msg_t *msg, int sent)
{
    const sip_t *sip;

    if (siptap_hook == NULL || msg == NULL)
        return;
    sip = sip_object(msg);
    if (sip && (sip->sip_request || sip->sip_status))
        siptap_hook(siptap_arg, sip, sent);
}

__attribute__((visibility("default"))) tport_t *
tport_tsend(tport_t *self, msg_t *msg, tp_name_t const *tpn, tag_type_t tag,
            tag_value_t value, ...)
{
    tport_t *tp = NULL;
    ta_list ta;

    if (real_tsend == NULL)
        siptap_init();
    ta_start(ta, tag, value);
    if (real_tsend)
        tp = real_tsend(self, msg, tpn, ta_tags(ta));
    ta_end(ta);
    if (tp)
        siptap_show(msg, 1);
    return tp;
}


/* Shown before the library's own runs: nta may free the message. */
__attribute__((visibility("default"))) void
tport_deliver(tport_t *self, msg_t *msg, msg_t *next,
              struct tport_compressor *sc, su_time_t now)
{
    if (real_deliver == NULL)
        siptap_init();
    siptap_show(msg, 0);
    if (real_deliver)
        real_deliver(self, msg, next, sc, now);
}

__attribute__((visibility("default"))) nta_agent_t *
nta_agent_create(su_root_t *root, url_string_t const *name,
                 nta_message_f *callback, nta_agent_magic_t *magic,
                 tag_type_t tag, tag_value_t value, ...)
{
    nta_agent_t *agent = NULL;
    ta_list ta;

    if (real_agent_create == NULL)
        siptap_init();
    ta_start(ta, tag, value);
    if (real_agent_create)
        agent = real_agent_create(root, name, callback, magic, ta_tags(ta));
    ta_end(ta);
    if (agent)
        siptap_agent = agent;
    return agent;
}

__attribute__((visibility("default"))) void
nta_agent_destroy(nta_agent_t *agent)
{
    if (real_agent_destroy == NULL)
        siptap_init();
    if (agent == siptap_agent)
        siptap_agent = NULL;
    if (real_agent_destroy)
        real_agent_destroy(agent);
}

int
siptap_transactions(struct siptap_transactions *out)
{
    usize_t irq = 0, orq = 0, leg = 0;

    if (siptap_agent == NULL)
        return -ENOENT;
    nta_agent_get_stats(siptap_agent, NTATAG_S_IRQ_HASH_USED_REF(irq),
                        NTATAG_S_ORQ_HASH_USED_REF(orq),
                        NTATAG_S_LEG_HASH_USED_REF(leg), TAG_END());
    out->server = irq;
    out->client = orq;
    out->legs = leg;
    return 0;
}
