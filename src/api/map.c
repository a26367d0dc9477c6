/*
 * map.c - a string-keyed hash of pointers: handles by id and by the
 * routing token of their Contact.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

struct api_map_entry {
    struct api_map_entry *next;
    uint32_t hash;
    void *val;
    char key[];
};

struct api_map {
    struct api_map_entry **b;
    size_t nb, n;
};

static uint32_t
api_map_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int
api_map_create(struct api_map **out)
{
    struct api_map *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->b = calloc(64, sizeof(*m->b))) == NULL) {
        free(m);
        return -ENOMEM;
    }
    m->nb = 64;
    *out = m;
    return 0;
}

void
api_map_destroy(struct api_map *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        for (struct api_map_entry *e = m->b[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(m->b);
    free(m);
}

static struct api_map_entry **
api_map_slot(const struct api_map *m, const char *key, uint32_t h)
{
    struct api_map_entry **pp = &m->b[h & (m->nb - 1)];

    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void
api_map_grow(struct api_map *m)
{
    size_t nb = m->nb * 2;
    struct api_map_entry **b = calloc(nb, sizeof(*b));

    if (b == NULL)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        for (struct api_map_entry *e = m->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

int
api_map_put(struct api_map *m, const char *key, void *val)
{
    uint32_t h = api_map_hash(key);
    struct api_map_entry **pp = api_map_slot(m, key, h), *e;
    size_t len = strlen(key) + 1;

    if (*pp) {
        (*pp)->val = val;
        return 0;
    }
    if ((e = malloc(sizeof(*e) + len)) == NULL)
        return -ENOMEM;
    e->next = NULL;
    e->hash = h;
    e->val = val;
    memcpy(e->key, key, len);
    *pp = e;
    if (++m->n > m->nb)
        api_map_grow(m);
    return 0;
}

void *
api_map_get(const struct api_map *m, const char *key)
{
    struct api_map_entry *e = *api_map_slot(m, key, api_map_hash(key));

    return e ? e->val : NULL;
}

void
api_map_del(struct api_map *m, const char *key)
{
    struct api_map_entry **pp = api_map_slot(m, key, api_map_hash(key)), *e;

    if ((e = *pp) == NULL)
        return;
    *pp = e->next;
    m->n--;
    free(e);
}
