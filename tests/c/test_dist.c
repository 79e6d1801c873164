/* test_dist.c — nl.dist's exit handler without MPI: a forked child registers
 * stand-ins for MPI_Finalized, MPI_Finalize and MPI_Abort that report
 * through a pipe, exits with a given status, and the parent reads which
 * of them ran; and the DataParallel reducer over stand-ins for MPI. The MPI
 * runs themselves are tests/spec/dist_spec.lua. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int report_fd = -1;         /* the child's end of the pipe */
static int already_finalized;      /* what the stand-in MPI_Finalized says */
static char comm_object;           /* stands in for MPI_COMM_WORLD */

static int fake_finalized(int *flag) { *flag = already_finalized; return 0; }
static int fake_finalize(void) { (void)!write(report_fd, "F;", 2); return 0; }
static int fake_abort(void *comm, int code) {
    char line[32];
    int n = snprintf(line, sizeof line, "A%d%s;", code, comm == &comm_object ? "" : "?");
    (void)!write(report_fd, line, (size_t)n);
    return 0;
}

/* What the exit handler did in a child that exits with status `status`;
 * `stderr_out` gets what it printed on stderr. */
static void child_exit(int status, int finalized, char *out, size_t cap, char *stderr_out, size_t ecap) {
    int fds[2], efds[2];
    CHECK(pipe(fds) == 0 && pipe(efds) == 0);
    fflush(stdout);                /* the child's exit() must not print our buffers again */
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        close(efds[0]);
        dup2(efds[1], 2);
        report_fd = fds[1];
        already_finalized = finalized;
        nl_dist_exit h = { fake_finalized, fake_finalize, fake_abort, &comm_object, 1, 2, { 0 } };
        if (nl_dist_on_exit(&h) != 0) _exit(99);
        exit(status);
    }
    close(fds[1]);
    close(efds[1]);
    size_t n = 0, en = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)k;
    while (en + 1 < ecap && (k = read(efds[0], stderr_out + en, ecap - 1 - en)) > 0) en += (size_t)k;
    out[n] = '\0';
    stderr_out[en] = '\0';
    close(fds[0]);
    close(efds[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == status);
    /* a clean exit says nothing: what it said, where it did (LeakSanitizer
     * once, about a thread another test left running) */
    if (status == 0 && stderr_out[0]) fprintf(stderr, "  (the child's stderr: %.300s)\n", stderr_out);
}

TEST(dist_exit_finalizes_a_clean_exit) {
    char out[64], err[256];
    child_exit(0, 0, out, sizeof out, err, sizeof err);
    CHECK(strcmp(out, "F;") == 0);
    CHECK(err[0] == '\0');
}

TEST(dist_exit_aborts_the_job_on_a_failure) {
    char out[64], err[256];
    child_exit(3, 0, out, sizeof out, err, sizeof err);
    CHECK(strcmp(out, "A3;") == 0);                 /* abort, on the given comm, with the status */
    CHECK(strstr(err, "rank 1 of 2 exited with status 3; aborting the job") != NULL);
}

TEST(dist_exit_does_nothing_after_finalize) {
    char out[64], err[256];
    child_exit(0, 1, out, sizeof out, err, sizeof err);
    CHECK(out[0] == '\0');
    child_exit(1, 1, out, sizeof out, err, sizeof err);
    CHECK(out[0] == '\0' && err[0] == '\0');
}

TEST(dist_exit_rejects_missing_functions) {
    nl_dist_exit h = { fake_finalized, NULL, fake_abort, &comm_object, 0, 1, { 0 } };
    CHECK(nl_dist_on_exit(&h) == -1);
    CHECK(strstr(nl_error(), "dist:") != NULL);
    CHECK(nl_dist_on_exit(NULL) == -1);
}

/* ---- the DataParallel reducer over stand-ins for MPI ----
 * One process plays every rank: the stand-in MPI_Iallreduce leaves the
 * buffer as it is (the sum over one rank) and logs each call, so with a
 * world of 2 each gradient comes back halved, and a gradient no rank had
 * stays absent. */
static struct { int calls; int count[8]; int during_backward[8]; int in_backward; int tests; } mpi_log;
static char sum_op, f32_type, f64_type, world;

static int fake_iallreduce(const void *send, void *recv, int count, void *dtype, void *op, void *comm,
                           void **request) {
    (void)recv;
    int k = mpi_log.calls++;
    if (k < 8) {
        mpi_log.count[k] = count;
        mpi_log.during_backward[k] = mpi_log.in_backward;
    }
    CHECK(send == (const void *)1 && op == &sum_op && comm == &world && (dtype == &f32_type || dtype == &f64_type));
    *request = &mpi_log;                          /* any non-NULL handle */
    return 0;
}
static int fake_test(void **request, int *flag, void *status) {
    (void)status;
    mpi_log.tests++;
    *flag = 1;
    *request = NULL;                              /* MPI_REQUEST_NULL once done */
    return 0;
}

TEST(dist_reducer_starts_buckets_inside_backward_and_averages) {
    /* y = sum(relu(x @ w1) @ w2) + sum(b * 0): w2 (4 values) is finished
     * first, then w1 (6); b gets a gradient; c is in no graph */
    double xv[6] = { 1, -2, 3, 0.5, 1, -1 }, w1v[6] = { 0.5, -1, 2, 1, -0.5, 0.25 }, w2v[2] = { 1.5, -2 };
    int64_t xs[2] = { 2, 3 }, w1s[2] = { 3, 2 }, w2s[2] = { 2, 1 }, one[1] = { 1 };
    nl_tensor *x = nl_from_doubles(2, xs, NL_FLOAT32, xv), *w1 = nl_from_doubles(2, w1s, NL_FLOAT32, w1v);
    nl_tensor *w2 = nl_from_doubles(2, w2s, NL_FLOAT32, w2v), *c = nl_full(1, one, 1.0, NL_FLOAT32);
    nl_set_requires_grad(w1, 1);
    nl_set_requires_grad(w2, 1);
    nl_set_requires_grad(c, 1);
    /* buckets in backward order: {w2}, {w1, c} */
    nl_tensor *params[3] = { w2, w1, c };
    int bucket[3] = { 0, 1, 1 };
    nl_dist_mpi mpi = { fake_iallreduce, fake_test, &world, &sum_op, &f32_type, &f64_type, 2,
                        NULL, NULL, NULL, NULL, NULL, 0 };
    nl_dist_reducer *r = nl_dist_reducer_new(&mpi, 3, params, bucket);
    CHECK(r != NULL);
    memset(&mpi_log, 0, sizeof mpi_log);
    nl_tensor *h = nl_matmul(x, w1), *a = nl_unary(NL_OP_RELU, h), *o = nl_matmul(a, w2);
    nl_tensor *L = nl_reduce_all(NL_OP_SUM, o, 0);
    CHECK(nl_dist_reducer_arm(r, 1) == 0);
    mpi_log.in_backward = 1;
    CHECK(nl_backward(L, NULL, 0) == 0);
    mpi_log.in_backward = 0;
    double g2[2] = { test_get(w2->grad, 0), test_get(w2->grad, 1) };
    double g1[6];
    for (int i = 0; i < 6; i++) g1[i] = test_get(w1->grad, i);
    /* bucket 0 (w2) started inside backward; bucket 1 waits for c, which
     * backward never reaches, so it starts in finish() */
    CHECK(mpi_log.calls == 1 && mpi_log.during_backward[0] == 1 && mpi_log.count[0] == 2 + 1);
    CHECK(nl_dist_reducer_early(r) == 1);
    CHECK(nl_dist_reducer_finish(r) == 0);
    CHECK(mpi_log.calls == 2 && mpi_log.during_backward[1] == 0 && mpi_log.count[1] == 6 + 1 + 2);
    CHECK(mpi_log.tests >= 2);                         /* each request completed (waits poll MPI_Test) */
    /* the sum over this one rank, divided by a world of 2 */
    for (int i = 0; i < 2; i++) CHECK_NEAR(test_get(w2->grad, i), g2[i] / 2, 1e-7);
    for (int i = 0; i < 6; i++) CHECK_NEAR(test_get(w1->grad, i), g1[i] / 2, 1e-7);
    CHECK(c->grad == NULL);                       /* no rank had one */
    /* a second round without arm(): everything starts in finish() */
    mpi_log.calls = 0;
    CHECK(nl_dist_reducer_finish(r) == 0);
    CHECK(mpi_log.calls == 2 && nl_dist_reducer_early(r) == 1);   /* early: of the last armed backward */
    CHECK_NEAR(test_get(w2->grad, 0), g2[0] / 4, 1e-7);
    /* armed to watch only: a backward that reaches none of the parameters
     * leaves touched() 0; one that does sets it, and no bucket starts
     * inside backward (a model after the first pending one) */
    CHECK(nl_dist_reducer_arm(r, 0) == 0);
    nl_tensor *u = nl_full(1, one, 2.0, NL_FLOAT32);
    nl_set_requires_grad(u, 1);
    nl_tensor *Lu = nl_reduce_all(NL_OP_SUM, u, 0);
    CHECK(nl_backward(Lu, NULL, 0) == 0);
    CHECK(nl_dist_reducer_touched(r) == 0);
    mpi_log.calls = 0;
    nl_tensor *m2 = nl_matmul(x, w1), *L2 = nl_reduce_all(NL_OP_SUM, m2, 0);
    CHECK(nl_backward(L2, NULL, 0) == 0);
    CHECK(nl_dist_reducer_touched(r) == 1);
    CHECK(mpi_log.calls == 0);
    CHECK(nl_dist_reducer_finish(r) == 0);
    CHECK(mpi_log.calls == 2 && nl_dist_reducer_touched(r) == 0);
    nl_release(Lu);
    nl_release(u);
    nl_release(m2);
    nl_release(L2);
    nl_dist_reducer_free(r);

    /* bad layouts are refused with the reason */
    int skip[3] = { 0, 2, 2 };
    CHECK(nl_dist_reducer_new(&mpi, 3, params, skip) == NULL && strstr(nl_error(), "has bucket 2 after bucket 0"));
    nl_tensor *twice[2] = { w1, w1 };
    int b2[2] = { 0, 0 };
    CHECK(nl_dist_reducer_new(&mpi, 2, twice, b2) == NULL && strstr(nl_error(), "listed twice"));
    nl_tensor *mixed[2] = { w1, nl_full(1, one, 1.0, NL_FLOAT64) };
    CHECK(nl_dist_reducer_new(&mpi, 2, mixed, b2) == NULL && strstr(nl_error(), "mixes dtypes"));
    nl_release(mixed[1]);
    nl_tensor *ints[1] = { nl_full(1, one, 1.0, NL_INT64) };
    CHECK(nl_dist_reducer_new(&mpi, 1, ints, b2) == NULL && strstr(nl_error(), "int64"));
    nl_release(ints[0]);
    nl_tensor *ts[] = { x, w1, w2, c, h, a, o, L };
    for (int i = 0; i < 8; i++) nl_release(ts[i]);
}

/* ---- waits that look for ranks which left ----
 * A fake world: the request completes after `polls` tests; one exit notice
 * (rank 1, after `left_after` collectives) is pending from the start. */
static struct { int polls, tests, notices, probes; int64_t left_after; } wq;
static char ctl_object;

static int slow_test(void **request, int *flag, void *status) {
    (void)request; (void)status;
    *flag = ++wq.tests >= wq.polls;
    return 0;
}
static int notice_iprobe(int source, int tag, void *comm, int *flag, void *status) {
    (void)source; (void)tag; (void)status;
    wq.probes++;
    *flag = comm == &ctl_object && wq.notices > 0;
    return 0;
}
static int notice_recv(void *buf, int count, void *datatype, int source, int tag, void *comm, void *status) {
    (void)datatype; (void)source; (void)tag; (void)comm; (void)status;
    if (count != 2 || wq.notices == 0) return 1;
    wq.notices--;
    int64_t *m = buf;
    m[0] = 1;
    m[1] = wq.left_after;
    return 0;
}

/* nl_dist_wait fails once a rank has left before starting the collective
 * waited for (it would wait for ever), and waits on where the rank took
 * part in it (its part is on the way). The notices are read once. */
TEST(dist_wait_fails_for_a_rank_that_left_before_the_collective) {
    nl_dist_mpi m = { NULL, slow_test, &world, &sum_op, &f32_type, &f64_type, 4,
                      notice_iprobe, notice_recv, NULL, &ctl_object, &f64_type, 0 };
    void *req = (void *)1;
    /* rank 1 left after 7 collectives: the 7th completes */
    memset(&wq, 0, sizeof wq);
    wq.polls = 50;
    wq.notices = 1;
    wq.left_after = 7;
    CHECK(nl_dist_wait(&m, &req, 7, "dist.test") == 0);
    CHECK(wq.tests == 50 && wq.notices == 0);
    /* ... the 8th never would */
    wq.tests = 0;
    wq.polls = 1 << 30;
    CHECK(nl_dist_wait(&m, &req, 8, "dist.test") == -1);
    CHECK(strstr(nl_error(), "dist.test: rank 1 of 4 has exited after 7 collectives, while this rank waits in "
                             "collective 8") != NULL);
    CHECK(wq.tests < 10);
    /* sequence numbers count up, one per collective */
    int64_t a = nl_dist_next_seq(), b = nl_dist_next_seq();
    CHECK(b == a + 1);
}
