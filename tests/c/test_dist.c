/* test_dist.c — nl.dist's exit handler without MPI: a forked child registers
 * stand-ins for MPI_Finalized, MPI_Finalize and MPI_Abort that report
 * through a pipe, exits with a given status, and the parent reads which
 * of them ran. The MPI runs themselves are tests/spec/dist_spec.lua. */
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
        nl_dist_exit h = { fake_finalized, fake_finalize, fake_abort, &comm_object, 1, 2 };
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
    nl_dist_exit h = { fake_finalized, NULL, fake_abort, &comm_object, 0, 1 };
    CHECK(nl_dist_on_exit(&h) == -1);
    CHECK(strstr(nl_error(), "dist:") != NULL);
    CHECK(nl_dist_on_exit(NULL) == -1);
}
