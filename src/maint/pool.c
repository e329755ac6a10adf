/*
 * pool.c -- the worker pool of the maintenance jobs (maint_int.h): helper
 * threads kept for a job's life, each with its own kept-alive connections
 * to the filers, that take the calls of one round in turn.
 */
#include "maint_int.h"

#include <pthread.h>
#include <stdlib.h>

struct cf__maint_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, idle; /* a new round, or the round's last call done */
    pthread_t t[CF__MAINT_WORKERS];
    size_t nt;
    bool quit;
    /* the round (under mu) */
    uint64_t round;
    size_t n, next, busy;
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    struct cf_job *j;
};

/* Take the next call of the current round and make it, until none is
 * left. Called with p->mu held; returns with it held. */
static void pool_drain(struct cf__maint_pool *p)
{
    while (p->next < p->n) {
        size_t i = p->next++;
        if (p->j != NULL && cf_job_should_stop(p->j)) {
            p->next = p->n;
            break;
        }
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, i);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0 && p->next >= p->n)
            pthread_cond_broadcast(&p->idle);
    }
}

static void *pool_main(void *arg)
{
    struct cf__maint_pool *p = arg;
    uint64_t seen = 0;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->round == seen)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->quit)
            break;
        seen = p->round;
        pool_drain(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct cf__maint_pool *cf__maint_pool_new(unsigned workers)
{
    struct cf__maint_pool *p = cf_xcalloc(1, sizeof(*p));

    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    if (workers > CF__MAINT_WORKERS)
        workers = CF__MAINT_WORKERS;
    while (p->nt + 1 < workers && pthread_create(&p->t[p->nt], NULL, pool_main, p) == 0)
        p->nt++;
    return p;
}

void cf__maint_pool_run(struct cf__maint_pool *p, size_t n, void (*fn)(void *ctx, size_t i),
                        void *ctx, struct cf_job *j)
{
    pthread_mutex_lock(&p->mu);
    p->n = n;
    p->next = 0;
    p->fn = fn;
    p->ctx = ctx;
    p->j = j;
    p->round++;
    pthread_cond_broadcast(&p->work);
    pool_drain(p);
    while (p->busy > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    p->n = p->next = 0;
    pthread_mutex_unlock(&p->mu);
}

void cf__maint_pool_free(struct cf__maint_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (size_t k = 0; k < p->nt; k++)
        (void)pthread_join(p->t[k], NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
