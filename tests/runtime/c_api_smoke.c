/* The C API from plain C11: load the artifact named on the command line,
 * describe its inputs and outputs, run it once on zeros and print the start
 * of each output. Exits 0 on success; on any error prints the code and the
 * message and exits 1. Linked with the runtime library only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "sinter/sinter.h"

static int report(sinter_status* status, const char* what) {
  sinter_status_code code = sinter_status_get_code(status);
  fprintf(stderr, "error: %s: %s (%d): %s\n", what, sinter_status_code_name(code), (int)code,
          sinter_status_get_message(status));
  sinter_status_free(status);
  return 1;
}

static void print_info(const char* kind, size_t index, const sinter_tensor_info* info) {
  printf("%s %zu '%s' %s[", kind, index, info->name, sinter_dtype_name(info->dtype));
  for (size_t d = 0; d < info->rank; ++d) printf("%s%" PRId64, d ? "," : "", info->dims[d]);
  printf("] (%zu bytes)\n", info->byte_size);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.sinter\n", argv[0]);
    return 2;
  }
  printf("sinter runtime %s\n", sinter_version());

  sinter_model* model = NULL;
  sinter_status* status = sinter_model_load_file(argv[1], NULL, &model);
  if (status != NULL) return report(status, "sinter_model_load_file");

  sinter_session* session = NULL;
  sinter_session_options options;
  sinter_session_options_init(&options);
  options.num_threads = 1;
  status = sinter_session_create(model, &options, &session);
  if (status != NULL) {
    sinter_model_release(model);
    return report(status, "sinter_session_create");
  }

  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sinter_model_input_count(model); ++i) {
    sinter_tensor_info info;
    status = sinter_model_input_info(model, i, &info);
    if (status != NULL) {
      rc = report(status, "sinter_model_input_info");
      break;
    }
    print_info("input", i, &info);
    void* zeros = calloc(info.byte_size ? info.byte_size : 1, 1);
    if (zeros == NULL) {
      fprintf(stderr, "out of memory\n");
      rc = 1;
      break;
    }
    status = sinter_session_set_input(session, i, info.dtype, info.dims, info.rank, zeros,
                                      info.byte_size);
    free(zeros);
    if (status != NULL) rc = report(status, "sinter_session_set_input");
  }
  if (rc == 0) {
    status = sinter_session_run(session);
    if (status != NULL) rc = report(status, "sinter_session_run");
  }
  for (size_t i = 0; rc == 0 && i < sinter_model_output_count(model); ++i) {
    sinter_tensor_info info;
    status = sinter_model_output_info(model, i, &info);
    if (status != NULL) {
      rc = report(status, "sinter_model_output_info");
      break;
    }
    print_info("output", i, &info);
    const void* data = NULL;
    size_t size = 0;
    status = sinter_session_get_output(session, i, &data, &size);
    if (status != NULL) {
      rc = report(status, "sinter_session_get_output");
      break;
    }
    if (info.dtype == SINTER_F32) {
      const float* v = (const float*)data;
      size_t n = size / sizeof(float);
      printf("  values:");
      for (size_t j = 0; j < n && j < 8; ++j) printf(" %.6g", (double)v[j]);
      printf("%s\n", n > 8 ? " ..." : "");
    }
  }
  sinter_session_release(session);
  sinter_model_release(model);
  if (rc == 0) printf("ok\n");
  return rc;
}
