/* Reference copy of the platform's nar_library_ffi.h 0.1.0, as docs/spec/nar-ffi.md fixes it:
 * names, signatures, struct layouts (field order and types), result codes, states and limits.
 * Kept by hand, NOT generated: suites/nar-ffi/tests/abi_reference.rs compiles this copy and the header cbindgen makes of
 * platform/nar, and fails on any difference in layout, value or signature. Change it only when the
 * platform's header changes (a new version), never to follow the code. */

#ifndef NAR_LIBRARY_FFI_REFERENCE_H
#define NAR_LIBRARY_FFI_REFERENCE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define NAR_VERSION_MAJOR 0
#define NAR_VERSION_MINOR 1
#define NAR_VERSION_PATCH 0
#define NAR_MAX_MODEL_PATH 512
#define NAR_MAX_PROMPT 8192
#define NAR_MAX_RESPONSE 32768
#define NAR_MAX_ERROR_MESSAGE 256
#define NAR_MAX_CONTEXT 16384
#define NAR_MAX_STOP_SEQUENCES 8
#define NAR_STOP_MAX_TOKENS 0
#define NAR_STOP_SEQUENCE 1
#define NAR_STOP_END_OF_SEQUENCE 2

typedef enum NarResultCode {
  NAR_SUCCESS = 0,
  NAR_ERROR_INVALID_PARAMS = 1,
  NAR_ERROR_MODEL_NOT_FOUND = 2,
  NAR_ERROR_MODEL_LOAD_FAILED = 3,
  NAR_ERROR_GENERATION_FAILED = 4,
  NAR_ERROR_OUT_OF_MEMORY = 5,
  NAR_ERROR_CONTEXT_TOO_LONG = 6,
  NAR_ERROR_ENGINE_NOT_INITIALIZED = 7,
  NAR_ERROR_ENGINE_ALREADY_INITIALIZED = 8,
  NAR_ERROR_THREAD_POOL_ERROR = 9,
  NAR_ERROR_TIMEOUT = 10,
  NAR_ERROR_CANCELLED = 11,
  NAR_ERROR_INVALID_UTF8 = 12,
  NAR_ERROR_UNKNOWN = 99,
} NarResultCode;

typedef enum NarEngineStatus {
  NAR_STATUS_UNINITIALIZED = 0,
  NAR_STATUS_INITIALIZING = 1,
  NAR_STATUS_READY = 2,
  NAR_STATUS_GENERATING = 3,
  NAR_STATUS_ERROR = 4,
  NAR_STATUS_SHUTTING_DOWN = 5,
} NarEngineStatus;

typedef struct NarConfigC {
  const char *model_path;
  uint32_t context_length;
  uint32_t max_batch_size;
  bool use_gpu;
  uint32_t thread_count;
  bool use_thread_pool;
  uint64_t memory_limit_bytes;
  bool use_memory_mapping;
  float default_temperature;
  uint32_t default_max_tokens;
  float default_top_p;
  uint32_t default_top_k;
  bool enable_content_filtering;
  bool enable_utf8_validation;
  uint32_t timeout_seconds;
  bool debug_logging;
  const char *log_file_path;
} NarConfigC;

typedef struct GenerateParamsC {
  const char *prompt;
  const char *context;
  uint32_t max_tokens;
  float temperature;
  float top_p;
  uint32_t top_k;
  float repetition_penalty;
  const char *stop_sequences[NAR_MAX_STOP_SEQUENCES];
  uint32_t stop_sequence_count;
  bool enable_content_filter;
  bool enable_profanity_filter;
  uint32_t seed;
  bool deterministic;
  uint32_t timeout_seconds;
  float min_p;
  float typical_p;
  uint32_t mirostat_mode;
  float mirostat_tau;
  float mirostat_eta;
} GenerateParamsC;

typedef struct NarGeneratedTextC {
  char *text;
  uint32_t token_count;
  uint32_t prompt_token_count;
  double generation_time_seconds;
  uint32_t stop_reason;
  bool content_filtered;
  char *stop_sequence_matched;
} NarGeneratedTextC;

typedef void (*NarStreamingCallback)(const char *partial_text, uint32_t token_count, bool is_complete, void *user_data);

typedef struct NarStatusReportC {
  enum NarEngineStatus status;
  const char *model_path;
  const char *model_name;
  const char *version;
  uint64_t total_generations;
  uint64_t total_tokens_generated;
  uint32_t active_generations;
  double average_tokens_per_second;
  uint64_t model_size_bytes;
  char last_error[NAR_MAX_ERROR_MESSAGE];
} NarStatusReportC;

#ifdef __cplusplus
extern "C" {
#endif

enum NarResultCode init_default_config_ffi(struct NarConfigC *config);
enum NarResultCode init_default_params_ffi(struct GenerateParamsC *params);
enum NarResultCode init_nar_engine_ffi(const struct NarConfigC *config);
enum NarResultCode generate_text_nar_ffi(const struct GenerateParamsC *params, struct NarGeneratedTextC *out);
enum NarResultCode generate_text_streaming_nar_ffi(const struct GenerateParamsC *params, NarStreamingCallback callback, void *user_data, struct NarGeneratedTextC *final_out);
enum NarResultCode free_nar_generated_text_ffi(struct NarGeneratedTextC *text);
enum NarResultCode get_nar_status_ffi(struct NarStatusReportC *report);
enum NarResultCode get_nar_version_ffi(uint32_t *major, uint32_t *minor, uint32_t *patch);
enum NarResultCode check_gpu_support_ffi(bool *supported);
const char *get_nar_error_description_ffi(int code);
enum NarResultCode cancel_generation_ffi(void);
enum NarResultCode validate_model_file_ffi(const char *path, bool *is_valid, char *error_message);
enum NarResultCode shutdown_nar_engine_ffi(void);

#ifdef __cplusplus
}
#endif

#endif /* NAR_LIBRARY_FFI_REFERENCE_H */
