/* nvtx_recorder.c: a stand-in profiler that writes down the NVTX ranges it receives, so a test
 * can prove that libfsr_native's ranges reach a tool without Nsight Systems or a GPU.
 *
 * A profiler attaches to NVTX3 the way this library does: NVTX_INJECTION64_PATH names it, the
 * first NVTX call of the process dlopens it and calls InitializeInjectionNvtx2 with NVTX's
 * export-table getter; the tool asks for the callbacks table, gets the CORE2 module's function
 * table (one slot per domain API function) and writes its own functions into the slots it
 * handles. Slots left empty become no-ops. Only domain creation, push and pop are recorded:
 * they are all libfsr_native uses.
 *
 * Each event becomes one line of the file named by FSR_NVTX_RECORD:
 *   domain <thread> <domain>         a domain was created
 *   push <thread> <domain> <name>    a range was opened (an ASCII message; anything else is "?")
 *   pop <thread> <domain>            the thread's innermost range was closed
 * where <thread> is the Linux thread id: ranges nest per thread.
 * Lines are flushed as written: the process under test may be killed or exit abruptly. */
#define NVTX_NO_IMPL
#include <nvtx3/nvToolsExt.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct nvtxDomainRegistration_st {
    char name[64];
};

static FILE* record_file;
static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int depth;

static void record(const char* event, const char* domain, const char* name) {
    pthread_mutex_lock(&record_lock);
    long thread = (long)syscall(SYS_gettid);
    if (name != NULL) fprintf(record_file, "%s %ld %s %s\n", event, thread, domain, name);
    else fprintf(record_file, "%s %ld %s\n", event, thread, domain);
    fflush(record_file);
    pthread_mutex_unlock(&record_lock);
}

static nvtxDomainHandle_t create_domain(const char* name) {
    nvtxDomainHandle_t domain = (nvtxDomainHandle_t)calloc(1, sizeof *domain);
    if (domain == NULL) return NULL;
    snprintf(domain->name, sizeof domain->name, "%s", name != NULL ? name : "");
    record("domain", domain->name, NULL);
    return domain;
}

static int push(nvtxDomainHandle_t domain, const nvtxEventAttributes_t* attributes) {
    const char* name = attributes != NULL && attributes->messageType == NVTX_MESSAGE_TYPE_ASCII ? attributes->message.ascii : "?";
    record("push", domain != NULL ? domain->name : "(default)", name);
    return depth++;
}

static int pop(nvtxDomainHandle_t domain) {
    record("pop", domain != NULL ? domain->name : "(default)", NULL);
    return --depth;
}

__attribute__((visibility("default"))) int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get_export_table) {
    const char* path = getenv("FSR_NVTX_RECORD");
    if (path == NULL || (record_file = fopen(path, "a")) == NULL) return 0;
    const NvtxExportTableCallbacks* callbacks = (const NvtxExportTableCallbacks*)get_export_table(NVTX_ETID_CALLBACKS);
    NvtxFunctionTable table = NULL;
    unsigned int size = 0;
    if (callbacks == NULL || !callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &table, &size)) return 0;
    if (size <= NVTX_CBID_CORE2_DomainCreateA) return 0;
    *table[NVTX_CBID_CORE2_DomainCreateA] = (NvtxFunctionPointer)create_domain;
    *table[NVTX_CBID_CORE2_DomainRangePushEx] = (NvtxFunctionPointer)push;
    *table[NVTX_CBID_CORE2_DomainRangePop] = (NvtxFunctionPointer)pop;
    return 1;
}
