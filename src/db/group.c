/*
 * group.c -- group commit on one database (dbgroup.h).
 */
#include "coffer/dbgroup.h"

#include "coffer/err.h"

struct cf_db_group_item {
    cf_db_group_fn write;
    void *arg;
    char *err;
    int rc;
    bool done; /* set under the group's mutex */
    /* Signalled when done is set, or when this write is first in the
     * queue and no leader is running: only the caller it concerns wakes. */
    pthread_cond_t cv;
    struct cf_db_group_item *next;
};

void cf_db_group_init(struct cf_db_group *g)
{
    pthread_mutex_init(&g->mu, NULL);
    g->busy = false;
    g->head = NULL;
    g->tail = &g->head;
}

void cf_db_group_fini(struct cf_db_group *g)
{
    pthread_mutex_destroy(&g->mu);
}

/* Run the n writes of v in one transaction, each answer in v[i]->rc (its
 * reason in v[i]->err). A write that fails rolls the batch back, and each
 * write then runs in a transaction of its own. */
static void run_batch(struct cf_db_pool *pool, struct cf_db_group_item **v, size_t n)
{
    char err[CF_ERR_LEN] = "";
    struct cf_db *db = cf_db_pool_acquire(pool);
    size_t i = 0;
    int rc;

    rc = cf_db_begin(db, n > 1 ? err : v[0]->err);
    for (; rc >= 0 && i < n; i++)
        rc = v[i]->write(db, v[i]->arg, n > 1 ? err : v[i]->err);
    if (rc >= 0) {
        rc = cf_db_commit(db, n > 1 ? err : v[0]->err);
        for (i = 0; i < n; i++) {
            v[i]->rc = rc;
            if (rc < 0 && n > 1)
                cf_err_set(v[i]->err, "%s", err);
        }
        cf_db_pool_release(pool, db);
        return;
    }
    cf_db_rollback(db);
    cf_db_pool_release(pool, db);
    if (n == 1) {
        v[0]->rc = rc;
        return;
    }
    for (i = 0; i < n; i++)
        run_batch(pool, &v[i], 1);
}

int cf_db_group_write(struct cf_db_group *g, struct cf_db_pool *pool, cf_db_group_fn write,
                      void *arg, char *err)
{
    struct cf_db_group_item me = {.write = write, .arg = arg, .err = err};
    int rc;

    pthread_cond_init(&me.cv, NULL);
    pthread_mutex_lock(&g->mu);
    *g->tail = &me;
    g->tail = &me.next;
    while (!me.done && g->busy)
        pthread_cond_wait(&me.cv, &g->mu);
    if (!me.done) {
        g->busy = true;
        while (!me.done) {
            struct cf_db_group_item *v[CF_DB_GROUP_MAX];
            size_t n = 0;

            while (g->head != NULL && n < CF_DB_GROUP_MAX) {
                v[n++] = g->head;
                g->head = g->head->next;
            }
            if (g->head == NULL)
                g->tail = &g->head;
            pthread_mutex_unlock(&g->mu);
            run_batch(pool, v, n);
            pthread_mutex_lock(&g->mu);
            /* Each caller reads its answer and leaves; v[i] lives on its
             * stack, so it is touched no more after done is set. */
            for (size_t i = 0; i < n; i++) {
                v[i]->done = true;
                pthread_cond_signal(&v[i]->cv);
            }
        }
        g->busy = false;
        /* Those queued meanwhile: the first of them leads next. */
        if (g->head != NULL)
            pthread_cond_signal(&g->head->cv);
    }
    rc = me.rc;
    pthread_mutex_unlock(&g->mu);
    pthread_cond_destroy(&me.cv);
    return rc;
}
