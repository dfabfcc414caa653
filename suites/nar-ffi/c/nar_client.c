/* The game client's path through the NAR C ABI: dlopen the library, init -> generate -> free ->
 * shutdown, N rounds. Usage: nar_client LIBRARY MODEL [ROUNDS [MAX_TOKENS [stream]]]
 * With "stream" each round generates through generate_text_streaming_nar_ffi and checks that every
 * partial text is a prefix of the final one and that the last call is the only complete one.
 * Prints each generated text on its own line as "text: ...", then "tokens: N stop_reason: R" and
 * "timing: first_token_ms=F total_ms=T" (F: until the first partial text when streaming, else the
 * whole call, as a game waits for it); exits 0 only if every call succeeded and the result struct
 * was reset by free. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nar_library_ffi.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* What the streaming callback saw; the client copies each partial text as a game would. */
typedef struct {
    unsigned calls, completes, bad_prefix;
    char *last;
    double first_ms; /* when the first partial text arrived (now_ms), 0 before */
} Stream;

static void on_partial(const char *partial, uint32_t token_count, bool is_complete, void *user_data) {
    Stream *s = user_data;
    (void)token_count;
    if (s->calls == 0) s->first_ms = now_ms();
    s->calls++;
    if (is_complete) s->completes++;
    else if (s->completes) s->bad_prefix++; /* a partial after the complete call */
    if (s->last && strncmp(partial, s->last, strlen(s->last)) != 0) s->bad_prefix++;
    free(s->last);
    s->last = strdup(partial);
}

#define LOAD(name) \
    name##_t name = (name##_t)dlsym(lib, #name); \
    if (!name) { fprintf(stderr, "missing symbol %s\n", #name); return 2; }

typedef NarResultCode (*init_default_config_ffi_t)(NarConfigC *);
typedef NarResultCode (*init_default_params_ffi_t)(GenerateParamsC *);
typedef NarResultCode (*init_nar_engine_ffi_t)(const NarConfigC *);
typedef NarResultCode (*generate_text_nar_ffi_t)(const GenerateParamsC *, NarGeneratedTextC *);
typedef NarResultCode (*generate_text_streaming_nar_ffi_t)(const GenerateParamsC *, NarStreamingCallback, void *, NarGeneratedTextC *);
typedef NarResultCode (*free_nar_generated_text_ffi_t)(NarGeneratedTextC *);
typedef NarResultCode (*shutdown_nar_engine_ffi_t)(void);
typedef const char *(*get_nar_error_description_ffi_t)(int);

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s LIBRARY MODEL [ROUNDS [MAX_TOKENS]]\n", argv[0]); return 2; }
    int rounds = argc > 3 ? atoi(argv[3]) : 1;
    unsigned max_tokens = argc > 4 ? (unsigned)atoi(argv[4]) : 8;
    int stream = argc > 5 && strcmp(argv[5], "stream") == 0;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
    LOAD(init_default_config_ffi) LOAD(init_default_params_ffi) LOAD(init_nar_engine_ffi)
    LOAD(generate_text_nar_ffi) LOAD(free_nar_generated_text_ffi) LOAD(shutdown_nar_engine_ffi)
    LOAD(get_nar_error_description_ffi) LOAD(generate_text_streaming_nar_ffi)

    /* The defaults once, before the first init: after a shutdown nar-ffi.md has every call but
     * init answer ENGINE_NOT_INITIALIZED, so a client keeps its config for the next init. */
    NarConfigC config;
    NarResultCode rc = init_default_config_ffi(&config);
    if (rc != NAR_SUCCESS) { fprintf(stderr, "init_default_config: %d %s\n", rc, get_nar_error_description_ffi(rc)); return 1; }
    config.model_path = argv[2];
    config.context_length = 512;
    config.thread_count = 2;
    config.timeout_seconds = 0; /* no timeout: under valgrind a generation takes minutes */
    GenerateParamsC defaults;
    rc = init_default_params_ffi(&defaults);
    if (rc != NAR_SUCCESS) { fprintf(stderr, "init_default_params: %d\n", rc); return 1; }

    for (int r = 0; r < rounds; r++) {
        rc = init_nar_engine_ffi(&config);
        if (rc != NAR_SUCCESS) { fprintf(stderr, "init: %d %s\n", rc, get_nar_error_description_ffi(rc)); return 1; }

        GenerateParamsC params = defaults;
        params.prompt = "A scout robot finds a sealed bunker door.";
        params.context = "narrative=EXPLORATION_DISCOVERY;class=EXPLORER;affiliation=NEUTRAL";
        params.max_tokens = max_tokens;
        params.deterministic = true;
        NarGeneratedTextC out;
        Stream seen = {0, 0, 0, NULL, 0};
        double started = now_ms();
        rc = stream ? generate_text_streaming_nar_ffi(&params, on_partial, &seen, &out) : generate_text_nar_ffi(&params, &out);
        if (rc != NAR_SUCCESS) { fprintf(stderr, "generate: %d %s\n", rc, get_nar_error_description_ffi(rc)); return 1; }
        double total = now_ms() - started;
        double first = stream && seen.calls ? seen.first_ms - started : total;
        if (stream) {
            int ok = seen.calls >= 2 && seen.completes == 1 && seen.bad_prefix == 0 && seen.last && strcmp(seen.last, out.text) == 0;
            printf("stream: %u calls\n", seen.calls);
            free(seen.last);
            if (!ok) { fprintf(stderr, "streaming: %u calls, %u complete, %u not prefixes, final differs\n", seen.calls, seen.completes, seen.bad_prefix); return 1; }
        }
        printf("text: %s\ntokens: %u stop_reason: %u\ntiming: first_token_ms=%.1f total_ms=%.1f\n", out.text, out.token_count, out.stop_reason, first, total);
        rc = free_nar_generated_text_ffi(&out);
        if (rc != NAR_SUCCESS || out.text != NULL || out.stop_sequence_matched != NULL) { fprintf(stderr, "free did not reset\n"); return 1; }
        rc = free_nar_generated_text_ffi(&out); /* a second free of the reset struct is a no-op */
        if (rc != NAR_SUCCESS) { fprintf(stderr, "second free: %d\n", rc); return 1; }

        rc = shutdown_nar_engine_ffi();
        if (rc != NAR_SUCCESS) { fprintf(stderr, "shutdown: %d\n", rc); return 1; }
    }
    /* No dlclose: llama.cpp's backend is set up once per process and its registry lives in the
     * library's statics; unloading it would turn that into unreachable memory (LeakSanitizer
     * would report it as a leak of this client). */
    return 0;
}
