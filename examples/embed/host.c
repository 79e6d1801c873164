/* host.c — a C program shaped like a game loop that embeds nnlua: it opens
 * a vm, loads a script that rebuilds a trained classifier from a
 * checkpoint, and every frame hands the model an image from its own
 * buffer (zero-copy) and reads the class back, timing each call.
 *
 *   host SCRIPT CHECKPOINT [FRAMES] [THREADS]
 *
 * With THREADS > 1, that many threads each run their own vm at once and
 * must all agree with the labels. Build: cc host.c $(pkg-config --cflags
 * --libs nnlua). */
#include <nnlua.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *script, *checkpoint;
    int frames, id;
    int correct, errors;
    double total_us, worst_us;
} job;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void log_line(void *ctx, const char *line) {
    printf("[vm %d] %s\n", *(int *)ctx, line);
}

/* Opens a vm with the script loaded, or NULL after printing why. */
static nl_vm *open_vm(job *j) {
    nl_vm_options opts = { .num_threads = 1, .log = log_line, .log_ctx = &j->id };
    nl_vm *vm = nl_vm_open(&opts);
    if (!vm) {
        fprintf(stderr, "host: cannot open a vm: %s\n", nl_error());
        return NULL;
    }
    char set[4200];
    snprintf(set, sizeof set, "CHECKPOINT = [==[%s]==]", j->checkpoint);
    if (nl_vm_dostring(vm, set) != 0 || nl_vm_dofile(vm, j->script) != 0) {
        fprintf(stderr, "host: %s\n", nl_vm_error(vm));
        nl_vm_close(vm);
        return NULL;
    }
    return vm;
}

static void *run(void *arg) {
    job *j = arg;
    nl_vm *vm = open_vm(j);
    if (!vm) {
        j->errors++;
        return NULL;
    }
    float pixels[784];                    /* the engine's own frame buffer */
    int64_t size[1] = { 784 };
    for (int f = 0; f < j->frames; f++) {
        /* the engine fills its buffer: here, with test image f+1 from the script */
        int64_t which = f + 1;
        nl_tensor *index = nl_tensor_wrap(0, NULL, NL_INT64, &which, NULL, NULL), *got[2];
        int rc = nl_vm_call(vm, "test_image", 1, &index, 2, got);
        nl_release(index);
        if (rc != 0) {
            fprintf(stderr, "host: frame %d: %s\n", f, nl_vm_error(vm));
            j->errors++;
            continue;
        }
        memcpy(pixels, got[0]->data, sizeof pixels);
        int label = (int)((int64_t *)got[1]->data)[0];
        nl_release(got[0]);
        nl_release(got[1]);

        /* the per-frame call: the model reads the engine's buffer in place */
        double t0 = now_us();
        nl_tensor *in = nl_tensor_wrap(1, size, NL_FLOAT32, pixels, NULL, NULL), *probs;
        rc = nl_vm_call(vm, "classify", 1, &in, 1, &probs);
        double us = now_us() - t0;
        nl_release(in);
        if (rc != 0) {
            fprintf(stderr, "host: classify: %s\n", nl_vm_error(vm));
            j->errors++;
            continue;
        }
        int best = 0;
        const float *p = probs->data;
        for (int k = 1; k < 10; k++)
            if (p[k] > p[best]) best = k;
        nl_release(probs);
        j->correct += (best + 1 == label);
        j->total_us += us;
        if (us > j->worst_us) j->worst_us = us;
    }
    /* errors come back as a status and a message; the host goes on */
    nl_tensor *none;
    if (nl_vm_call(vm, "no_such_function", 0, NULL, 1, &none) == 0) j->errors++;
    else printf("[vm %d] expected error: %s\n", j->id, nl_vm_error(vm));
    nl_vm_close(vm);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SCRIPT CHECKPOINT [FRAMES] [THREADS]\n", argv[0]);
        return 2;
    }
    int frames = argc > 3 ? atoi(argv[3]) : 100;
    int nthreads = argc > 4 ? atoi(argv[4]) : 1;
    if (nthreads < 1 || nthreads > 16 || frames < 1) {
        fprintf(stderr, "host: bad FRAMES or THREADS\n");
        return 2;
    }
    job jobs[16];
    pthread_t threads[16];
    for (int i = 0; i < nthreads; i++) {
        jobs[i] = (job){ .script = argv[1], .checkpoint = argv[2], .frames = frames, .id = i + 1 };
        pthread_create(&threads[i], NULL, run, &jobs[i]);
    }
    int failed = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(threads[i], NULL);
        job *j = &jobs[i];
        printf("vm %d: %d/%d frames classified correctly, mean latency %.1f us, worst %.1f us, %d errors\n",
               j->id, j->correct, frames, j->total_us / frames, j->worst_us, j->errors);
        failed |= j->errors != 0;
    }
    return failed ? 1 : 0;
}
