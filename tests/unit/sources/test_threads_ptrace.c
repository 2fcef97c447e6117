// SPDX-License-Identifier: MIT
/* test_threads.c on the path of kernels without the BPF task iterator: every thread stopped
 * alone with ptrace (threads_source__new_method(..., THREADS_METHOD_PTRACE)). */
#include "sources/threads.h"

#define THREADS_TEST_METHOD THREADS_METHOD_PTRACE
#include "test_threads.c"
