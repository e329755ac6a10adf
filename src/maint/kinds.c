/*
 * kinds.c -- the job kinds of the app role, in one list (maint.h): the app
 * registers them, the command line makes one sub-command of each.
 */
#include "coffer/maint.h"

const struct cf_job_kind *const cf_maint_kinds[CF_MAINT_NKINDS] = {
    &cf_job_rebuild, &cf_job_rebalance, &cf_job_audit,
    &cf_job_dedupe,  &cf_job_orphans,   &cf_job_rewrap,
};
