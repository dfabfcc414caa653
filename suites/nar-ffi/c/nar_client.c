/* The game client's path through the NAR C ABI: dlopen the library, init -> generate -> free ->
 * shutdown, N rounds. Usage: nar_client LIBRARY MODEL [ROUNDS [MAX_TOKENS]]
 * Prints each generated text on its own line as "text: ..."; exits 0 only if every call succeeded
 * and the result struct was reset by free. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "nar_library_ffi.h"

#define LOAD(name) \
    name##_t name = (name##_t)dlsym(lib, #name); \
    if (!name) { fprintf(stderr, "missing symbol %s\n", #name); return 2; }

typedef NarResultCode (*init_default_config_ffi_t)(NarConfigC *);
typedef NarResultCode (*init_default_params_ffi_t)(GenerateParamsC *);
typedef NarResultCode (*init_nar_engine_ffi_t)(const NarConfigC *);
typedef NarResultCode (*generate_text_nar_ffi_t)(const GenerateParamsC *, NarGeneratedTextC *);
typedef NarResultCode (*free_nar_generated_text_ffi_t)(NarGeneratedTextC *);
typedef NarResultCode (*shutdown_nar_engine_ffi_t)(void);
typedef const char *(*get_nar_error_description_ffi_t)(int);

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s LIBRARY MODEL [ROUNDS [MAX_TOKENS]]\n", argv[0]); return 2; }
    int rounds = argc > 3 ? atoi(argv[3]) : 1;
    unsigned max_tokens = argc > 4 ? (unsigned)atoi(argv[4]) : 8;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
    LOAD(init_default_config_ffi) LOAD(init_default_params_ffi) LOAD(init_nar_engine_ffi)
    LOAD(generate_text_nar_ffi) LOAD(free_nar_generated_text_ffi) LOAD(shutdown_nar_engine_ffi)
    LOAD(get_nar_error_description_ffi)

    for (int r = 0; r < rounds; r++) {
        NarConfigC config;
        NarResultCode rc = init_default_config_ffi(&config);
        config.model_path = argv[2];
        config.context_length = 512;
        config.thread_count = 2;
        config.timeout_seconds = 0; /* no timeout: under valgrind a generation takes minutes */
        if (rc == NAR_SUCCESS) rc = init_nar_engine_ffi(&config);
        if (rc != NAR_SUCCESS) { fprintf(stderr, "init: %d %s\n", rc, get_nar_error_description_ffi(rc)); return 1; }

        GenerateParamsC params;
        init_default_params_ffi(&params);
        params.prompt = "A scout robot finds a sealed bunker door.";
        params.context = "narrative=EXPLORATION_DISCOVERY;class=EXPLORER;affiliation=NEUTRAL";
        params.max_tokens = max_tokens;
        params.deterministic = true;
        NarGeneratedTextC out;
        rc = generate_text_nar_ffi(&params, &out);
        if (rc != NAR_SUCCESS) { fprintf(stderr, "generate: %d %s\n", rc, get_nar_error_description_ffi(rc)); return 1; }
        printf("text: %s\ntokens: %u stop_reason: %u\n", out.text, out.token_count, out.stop_reason);
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
