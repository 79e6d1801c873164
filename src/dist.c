/* dist.c — the part of nl.dist (data-parallel runs on Open MPI) that must be
 * C: the exit handler that outlives the Lua state. It ends MPI cleanly when
 * the process exits with status 0 and aborts the whole job otherwise. No MPI
 * is linked here: lua/nnlua/dist.lua loads libmpi and hands its functions in. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* Runs at exit(), after the runner has reported any error and closed its
 * Lua state. A rank that failed must not call MPI_Finalize: Open MPI's
 * finalize waits for every rank, and the others wait in a collective for
 * this one, so the job would hang. MPI_Abort makes the launcher kill them. */
static void dist_at_exit(int status, void *arg)
{
    nl_dist_exit *h = arg;
    int done = 1;
    if (h->finalized(&done) == 0 && !done) {
        if (status == 0) {
            h->finalize();
        } else {
            fflush(stdout);
            fprintf(stderr, "nnlua: rank %d of %d exited with status %d; aborting the job\n",
                    h->rank, h->size, status);
            fflush(stderr);
            h->abort(h->comm, status);
        }
    }
    free(h);
}

int nl_dist_on_exit(const nl_dist_exit *hooks)
{
    NL_CHECK_INT(hooks != NULL && hooks->finalized != NULL && hooks->finalize != NULL &&
                 hooks->abort != NULL, "dist: nl_dist_on_exit needs MPI_Finalized, MPI_Finalize and MPI_Abort");
    nl_dist_exit *copy = malloc(sizeof *copy);
    NL_CHECK_INT(copy != NULL, "dist: out of memory");
    *copy = *hooks;
    if (on_exit(dist_at_exit, copy) != 0) {
        free(copy);
        nl_set_error("dist: cannot register the exit handler (on_exit failed)");
        return -1;
    }
    return 0;
}
