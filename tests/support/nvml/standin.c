/*
 * GPU Pulse test stand-in for libnvidia-ml.so.1.
 *
 * Loaded by the REAL pynvml (nvidia-ml-py) in place of NVIDIA's library, so the binding's
 * ctypes structs and calling conventions meet C code compiled against NVIDIA's own nvml.h
 * (vendored next to this file).  Every exported function is defined with the header's exact
 * prototype, so the compiler checks the signatures.  It answers from a scenario file
 * (NVML_STANDIN_SCENARIO) and from the wall clock, and it keeps the real driver's unkind
 * habits: missing symbols on old drivers, NOT_SUPPORTED on MIG, omitted idle processes,
 * NOT_FOUND when nothing is newer, INSUFFICIENT_SIZE races, monotonic sample clocks, ...
 *
 * Build: cc -shared -fPIC -O2 -Wall -Werror -DNVML_NO_UNVERSIONED_FUNC_DEFS
 *           -DSTANDIN_DRIVER=<418|470|535|999> -Wl,-soname,libnvidia-ml.so.1
 *           -o libnvidia-ml.so.1 standin.c -lm -pthread
 *
 * Driver variants (which symbols exist, checked against NVIDIA's headers of each era):
 *   418  NVML 10 (CUDA 10.1): v1 process functions, nvmlEventSetWait (v1) only, no MIG, no
 *        nvmlDeviceGetArchitecture (both came with R450), no row remapping, no GPM.
 *   470  adds the _v2 process functions, nvmlEventSetWait_v2, MIG, nvmlDeviceGetArchitecture,
 *        nvmlDeviceGetRemappedRows.  Still no _v3, no memory v2, no GPM, no ClocksEventReasons.
 *   535  adds _v3 process functions, nvmlDeviceGetMemoryInfo_v2, GPM, ClocksEventReasons.
 *        nvmlDeviceGetTemperatureV does NOT exist yet: it first appears in NVML 12.8 (R570).
 *   999  a driver after CUDA 14: 535 plus nvmlDeviceGetTemperatureV, minus the deprecated
 *        nvmlDeviceGetTemperature and nvmlDeviceGetCurrentClocksThrottleReasons.
 * Legacy unversioned symbols (nvmlInit, nvmlDeviceGetCount, the v1 process functions,
 * nvmlEventSetWait) stay exported on every variant, as the real library keeps them.
 *
 * Semantics (times are CLOCK_REALTIME unless stated; x = seconds since the scenario's t0):
 *  - Duty cycle: busy when fmod(x, busy_s + idle_s) < busy_s; busy_s = idle_s = 0 means
 *    always busy when busy_util > 0, else always idle.  The mean utilization of a window is
 *    its exact busy fraction f: round(f * busy_util + (1 - f) * idle_util).
 *  - nvmlDeviceGetUtilizationRates: mean over (now - util_window_us, now]; memory = mem_util.
 *  - Sample buffer (nvmlDeviceGetSamples, GPU_UTILIZATION and MEMORY_UTILIZATION samples,
 *    other types NOT_SUPPORTED): samples sit at t_k = t0 + k * sample_period_us; the sample at
 *    t_k holds the mean utilization over (t_{k-1}, t_k] (memory samples: mem_util).  The
 *    buffer holds the newest buffer_depth samples with t_k <= now; with quiet_when_idle a
 *    window without busy time emits no sample (the older ones stay in the buffer).  Value
 *    type NVML_VALUE_TYPE_UNSIGNED_INT.  samples == NULL: *sampleCount = buffer_depth,
 *    SUCCESS.  Otherwise the samples newer than lastSeenTimeStamp, oldest first, at most
 *    *sampleCount of them; none: NVML_ERROR_NOT_FOUND.  timestamp_base = monotonic reports
 *    CLOCK_MONOTONIC microseconds (offset fixed at the first init) instead of wall time.
 *  - nvmlDeviceGetProcessUtilization: one sample per process per 1 s window (t0 + k s),
 *    newest buffer_depth windows; timeStamp = window end (same base as the sample buffer);
 *    smUtil from `sm` (follow[:factor] = device util of that window x factor, capped at
 *    100; garbage = 0xFFFFFFFF; a constant), mem/enc/dec 0.  A sample with no use at all is
 *    omitted, as NVML omits processes with zero utilization (sm = idle: never any sample).
 *    utilization == NULL: NOT_FOUND when nothing is newer than lastSeen, else
 *    *processSamplesCount = n and INSUFFICIENT_SIZE.  A too small array: INSUFFICIENT_SIZE
 *    (a window can close between pynvml's two calls: the real race, kept on purpose).
 *  - Running processes (v1, v2, v3): infos == NULL or *infoCount < n: *infoCount = n,
 *    INSUFFICIENT_SIZE; no process: SUCCESS with *infoCount = 0.  gpuInstanceId and
 *    computeInstanceId are 0xFFFFFFFF outside MIG; a MIG-enabled parent lists every process
 *    of its MIG devices with their ids; a MIG device handle lists its own.
 *  - Memory: v1 `used` includes reserved memory and free = total - used; v2 (version must be
 *    nvmlMemory_v2) has used without reserved and free = total - reserved - used.  On a
 *    MIG-enabled parent used = sum of its MIG devices' used.
 *  - MIG: a MIG-enabled parent answers NOT_SUPPORTED for utilization rates, samples, process
 *    utilization and encoder/decoder utilization (nvml.h: "not currently supported"); a MIG
 *    device handle answers UUID, name, memory, GI/CI ids, running processes, parent handle,
 *    architecture and compute capability, and NOT_SUPPORTED for the rest.
 *    nvmlDeviceGetMaxMigDeviceCount is 7 in MIG mode and 0 otherwise (nvml.h: "Returns zero
 *    if MIG is not supported or enabled").  nvmlDeviceGetMigMode: NOT_SUPPORTED before Ampere.
 *  - GPM (gpm = 1 on the GPU, else NOT_SUPPORTED): a sample records the last 100 ms counter
 *    refresh point and the cumulative busy time of the GPU or MIG device; GRAPHICS_UTIL and
 *    SM_UTIL = mean utilization between the two samples (0 when both read the same refresh);
 *    other metric ids get nvmlReturn NOT_SUPPORTED.
 *  - Energy: energy_base_mj + exact integral of power over (t0, now].  Power: current phase.
 *  - Lost GPU (lost_after_s), version mismatch (mismatch_after_s) and Xid (xid_after_s) are
 *    timed from the first successful init of this process with this scenario path
 *    (CLOCK_MONOTONIC), so every test that names a fresh scenario file starts a fresh clock.
 *    nvmlDeviceGetHandleByUUID answers GPU_IS_LOST while ANY GPU is lost (nvml.h says so).
 *  - Events: a pending Xid is returned once per event set registered for
 *    nvmlEventTypeXidCriticalError on that GPU; otherwise TIMEOUT after sleeping up to
 *    timeoutms (0 = no wait).  The lock is released while sleeping; no busy-waits.
 *  - Page retirement is NOT_SUPPORTED from Ampere on (row remapping replaces it) and row
 *    remapping is NOT_SUPPORTED before Ampere, as on real boards.
 *  - The scenario file is re-read at every init and whenever its mtime/inode/size changes
 *    (checked on each call).  A broken rewrite keeps the previous scenario and says so once
 *    on stderr.  Handles point into static arrays, so they stay valid across reloads.
 * One caller thread is the design target; a single mutex makes concurrent calls safe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nvml.h"

#if !defined(STANDIN_DRIVER)
#error "define STANDIN_DRIVER as 418, 470, 535 or 999"
#elif STANDIN_DRIVER == 418
#define DEFAULT_VERSION "418.226.00"
#define DEFAULT_CUDA 10010
#define NVML_API 10
#elif STANDIN_DRIVER == 470
#define DEFAULT_VERSION "470.256.02"
#define DEFAULT_CUDA 11040
#define NVML_API 11
#elif STANDIN_DRIVER == 535
#define DEFAULT_VERSION "535.183.01"
#define DEFAULT_CUDA 12020
#define NVML_API 12
#elif STANDIN_DRIVER == 999
#define DEFAULT_VERSION "999.0.0"
#define DEFAULT_CUDA 13000
#define NVML_API 13
#else
#error "STANDIN_DRIVER must be 418, 470, 535 or 999"
#endif

/* R450 brought MIG, nvmlEventSetWait_v2, nvmlDeviceGetArchitecture and row remapping;
 * the _v2 process functions came with R455.  Both are present in 470. */
#define HAS_R470 (STANDIN_DRIVER >= 470)
/* _v3 processes and memory v2 (R510), GPM (R520/R525), ClocksEventReasons (R535). */
#define HAS_R535 (STANDIN_DRIVER >= 535)
/* nvmlDeviceGetTemperatureV (R570) and the removal of the CUDA-14 deprecations. */
#define HAS_NEXT (STANDIN_DRIVER >= 999)

#if HAS_NEXT
#define GPM_METRIC_LIMIT NVML_GPM_METRIC_MAX /* 333 in NVML 13.3 */
#else
#define GPM_METRIC_LIMIT 98 /* NVML_GPM_METRIC_MAX in the 12.2 (R535) header */
#endif

#define MAX_GPUS 32
#define MAX_MIGS 7
#define MAX_PROCS 64
#define MAX_SYMS 32
#define SYM_LEN 64
#define MAX_DEPTH 4096
#define MAX_LIVE 256
#define LINE_LEN 1024
#define MIB (1024ULL * 1024ULL)
#define NO_INSTANCE 0xFFFFFFFFu
#define GARBAGE_UTIL 0xFFFFFFFFu
#define STATIC_MIG_COUNT 7
#define GPM_REFRESH_S 0.1
#define SUPPORTED_EVENTS                                                              \
    (nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError | nvmlEventTypePState | \
     nvmlEventTypeXidCriticalError)

/* ------------------------------------------------------------------------------------ */
/* Scenario model                                                                        */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    double busy_s, idle_s;
    unsigned busy_util, idle_util;
} Activity;

typedef enum { SM_FOLLOW, SM_IDLE, SM_GARBAGE, SM_CONST } SmMode;
enum { KIND_COMPUTE = 1, KIND_GRAPHICS = 2 };

typedef struct {
    unsigned pid;
    unsigned long long used_bytes; /* or NVML_VALUE_NOT_AVAILABLE */
    unsigned kinds;
    SmMode sm;
    double sm_factor;
    unsigned sm_value;
} ProcConf;

typedef struct {
    int n;
    ProcConf v[MAX_PROCS];
} ProcList;

typedef struct {
    char sym[SYM_LEN];
    nvmlReturn_t code;
} SymCode;

typedef struct {
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned gi, ci;
    unsigned long long memory_total_mib, memory_used_mib;
    Activity act;
    ProcList procs;
} MigConf;

typedef struct {
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    int bus_set;
    unsigned domain, bus, device;
    unsigned pci_device_id, pci_subsystem_id;
    unsigned long long memory_total_mib, memory_reserved_mib, memory_used_mib;
    Activity act;
    unsigned mem_util, temp, fan, power_busy_mw, power_idle_mw;
    unsigned long long energy_base_mj;
    unsigned sm_mhz, mem_mhz, pstate;
    unsigned long long sample_period_us, util_window_us;
    unsigned buffer_depth;
    int quiet_when_idle, ts_monotonic;
    double lost_after_s;
    int mig, gpm;
    int nunsupported;
    char unsupported[MAX_SYMS][SYM_LEN];
    int nfail;
    SymCode fail[MAX_SYMS];
    unsigned power_limit_mw;
    unsigned long long clocks_event_reasons;
    unsigned encoder_util, decoder_util, pcie_tx_kbs, pcie_rx_kbs;
    unsigned long long ecc_uncorrected_volatile, ecc_uncorrected_aggregate;
    unsigned retired_pages, remapped_rows_uncorrectable, remapped_rows_correctable;
    unsigned long long xid;
    double xid_after_s;
    unsigned architecture;
    int cc_major, cc_minor;
    int nmigs;
    MigConf migs[MAX_MIGS];
    ProcList procs;
} GpuConf;

typedef struct {
    char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
    char nvml[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
    int cuda;
    double t0;
    int64_t t0_us;
    int init_error;
    double mismatch_after_s;
    int ngpus;
    GpuConf gpus[MAX_GPUS];
} Scenario;

/* A handle: a physical GPU or a MIG device.  Static storage, so handles survive reloads. */
struct nvmlDevice_st {
    int is_mig;
    int present;
    unsigned index; /* GPU index, or MIG index under the parent */
    struct nvmlDevice_st *parent;
    const GpuConf *gpu; /* the physical GPU (itself or the parent) */
    const MigConf *mig;
};
typedef struct nvmlDevice_st Dev;

typedef struct {
    Dev *dev;
    unsigned long long mask;
    int delivered;
} Registration;

struct nvmlEventSet_st {
    int nregs;
    Registration regs[MAX_GPUS];
};

struct nvmlGpmSample_st {
    int taken;
    const Dev *dev;
    unsigned gi;
    double x, busy;
    Activity act;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static Scenario *g_scn;
static Dev g_gpus[MAX_GPUS];
static Dev g_migs[MAX_GPUS][MAX_MIGS];
static int g_refcount;
static char g_path[4096];
static struct stat g_stat;
static int g_epoch_set;
static double g_epoch;            /* CLOCK_MONOTONIC seconds of the first successful init */
static int64_t g_wall_minus_mono; /* us, fixed at that init for monotonic timestamps */
static void *g_live[MAX_LIVE];    /* event sets and GPM samples handed out */

/* Every C symbol this file can export, so `unsupported`/`fail` typos are caught. */
static const char *const KNOWN_SYMBOLS[] = {
    "nvmlDeviceGetCount", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetUUID",
    "nvmlDeviceGetName", "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetTemperature",
    "nvmlDeviceGetTemperatureV", "nvmlDeviceGetFanSpeed", "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetPerformanceState", "nvmlDeviceGetSamples", "nvmlDeviceGetProcessUtilization",
    "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v2",
    "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses",
    "nvmlDeviceGetGraphicsRunningProcesses_v2", "nvmlDeviceGetGraphicsRunningProcesses_v3",
    "nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount",
    "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
    "nvmlDeviceIsMigDeviceHandle", "nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetComputeInstanceId",
    "nvmlGpmQueryDeviceSupport", "nvmlGpmSampleGet", "nvmlGpmMigSampleGet",
    "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit",
    "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons",
    "nvmlDeviceGetEncoderUtilization", "nvmlDeviceGetDecoderUtilization",
    "nvmlDeviceGetPcieThroughput", "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetRetiredPages",
    "nvmlDeviceGetRemappedRows", "nvmlDeviceGetSupportedEventTypes", "nvmlDeviceRegisterEvents",
    "nvmlDeviceGetArchitecture", "nvmlDeviceGetCudaComputeCapability",
};

/* ------------------------------------------------------------------------------------ */
/* Time                                                                                  */
/* ------------------------------------------------------------------------------------ */

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Seconds since t0 of a wall-clock microsecond instant. */
static double rel_s(int64_t wall_us) { return (double)(wall_us - g_scn->t0_us) / 1e6; }

static double since_epoch(void) { return g_epoch_set ? mono_s() - g_epoch : 0; }

static int timer_expired(double after_s) { return after_s > 0 && g_epoch_set && since_epoch() >= after_s; }

/* ------------------------------------------------------------------------------------ */
/* Activity: the duty cycle and the integrals everything else is built on                */
/* ------------------------------------------------------------------------------------ */

static int never_busy(const Activity *a)
{
    return a->busy_s + a->idle_s <= 0 ? a->busy_util == 0 : a->busy_s <= 0;
}

/* Busy seconds in (0, x]; negative before t0, so differences work for any window. */
static double busy_upto(const Activity *a, double x)
{
    double period = a->busy_s + a->idle_s;
    if (period <= 0)
        return a->busy_util > 0 ? x : 0;
    double n = floor(x / period);
    return n * a->busy_s + fmin(x - n * period, a->busy_s);
}

static int busy_at(const Activity *a, double x)
{
    double period = a->busy_s + a->idle_s;
    if (period <= 0)
        return a->busy_util > 0;
    return x - floor(x / period) * period < a->busy_s;
}

static double busy_fraction(const Activity *a, double x0, double x1)
{
    if (x1 <= x0)
        return busy_at(a, x1);
    double f = (busy_upto(a, x1) - busy_upto(a, x0)) / (x1 - x0);
    return f < 0 ? 0 : f > 1 ? 1 : f;
}

static unsigned util_of(const Activity *a, double f)
{
    return (unsigned)lround(f * a->busy_util + (1 - f) * a->idle_util);
}

static unsigned mean_util(const Activity *a, double x0, double x1)
{
    return util_of(a, busy_fraction(a, x0, x1));
}

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                         */
/* ------------------------------------------------------------------------------------ */

static nvmlReturn_t put_uint(unsigned int *out, unsigned int value)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    *out = value;
    return NVML_SUCCESS;
}

static nvmlReturn_t put_u64(unsigned long long *out, unsigned long long value)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    *out = value;
    return NVML_SUCCESS;
}

static nvmlReturn_t put_int(int *out, int value)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    *out = value;
    return NVML_SUCCESS;
}

/* Copies a string the way NVML does: INSUFFICIENT_SIZE unless it fits with its NUL. */
static nvmlReturn_t put_str(char *out, unsigned int length, const char *value)
{
    if (!out)
        return NVML_ERROR_INVALID_ARGUMENT;
    size_t n = strlen(value);
    if (length < n + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, value, n + 1);
    return NVML_SUCCESS;
}

static int live_find(const void *p)
{
    for (int i = 0; p && i < MAX_LIVE; i++)
        if (g_live[i] == p)
            return i;
    return -1;
}

static int live_add(void *p)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (!g_live[i]) {
            g_live[i] = p;
            return 1;
        }
    return 0;
}

/* A zeroed object the caller owns until it frees it; NULL when memory or slots run out. */
static void *live_alloc(size_t size)
{
    void *p = calloc(1, size);
    if (p && !live_add(p)) {
        free(p);
        p = NULL;
    }
    return p;
}

static void live_drop(const void *p)
{
    int i = live_find(p);
    if (i >= 0)
        g_live[i] = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Scenario parser                                                                       */
/* ------------------------------------------------------------------------------------ */

typedef enum { SEC_NONE, SEC_DRIVER, SEC_GPU, SEC_MIG, SEC_PROCESS } Section;
typedef enum { K_STR, K_UINT, K_U64, K_INT, K_DBL, K_FLAG, K_FN } KeyKind;

typedef struct {
    const char *path;
    int line;
    int failed;
    Section sec;
    int seen_driver;
    Scenario *scn;
    GpuConf *gpu;
    MigConf *mig;
    ProcList *owner;
    ProcConf *proc;
} Parser;

typedef int (*KeyFn)(Parser *p, void *obj, const char *value);

typedef struct {
    const char *name;
    KeyKind kind;
    size_t off;
    size_t size;
    KeyFn fn;
} Key;

#define KEY(n, k, type, field) {n, k, offsetof(type, field), sizeof(((type *)0)->field), NULL}
#define KEYFN(n, f) {n, K_FN, 0, 0, f}

__attribute__((format(printf, 2, 3))) static int perr(Parser *p, const char *fmt, ...)
{
    va_list ap;
    if (p->failed)
        return 0;
    fprintf(stderr, "nvml-standin: %s:%d: ", p->path, p->line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    p->failed = 1;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        *--end = '\0';
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* C escapes: \xNN (any byte, so a test can write invalid UTF-8) and \\. */
static int unescape(Parser *p, char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (const char *s = src; *s; s++) {
        int c = (unsigned char)*s;
        if (c == '\\' && s[1] == '\\') {
            s++;
        } else if (c == '\\' && s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
            c = hexval(s[2]) * 16 + hexval(s[3]);
            s += 3;
        } else if (c == '\\') {
            return perr(p, "bad escape in '%s' (only \\xNN and \\\\)", src);
        }
        if (n + 1 >= size)
            return perr(p, "value too long: '%s'", src);
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return 1;
}

static int parse_u64(Parser *p, const char *v, unsigned long long *out)
{
    char *end;
    if (*v == '-' || *v == '\0')
        return perr(p, "not a non-negative integer: '%s'", v);
    *out = strtoull(v, &end, 0);
    return *end ? perr(p, "not a non-negative integer: '%s'", v) : 1;
}

static int parse_int(Parser *p, const char *v, long long *out)
{
    char *end;
    *out = strtoll(v, &end, 0);
    return (*v == '\0' || *end) ? perr(p, "not an integer: '%s'", v) : 1;
}

static int parse_dbl(Parser *p, const char *v, double *out)
{
    char *end;
    *out = strtod(v, &end);
    return (*v == '\0' || *end || !isfinite(*out)) ? perr(p, "not a number: '%s'", v) : 1;
}

static int is_known_symbol(const char *name)
{
    for (size_t i = 0; i < sizeof KNOWN_SYMBOLS / sizeof *KNOWN_SYMBOLS; i++)
        if (strcmp(KNOWN_SYMBOLS[i], name) == 0)
            return 1;
    return 0;
}

static int set_plain(Parser *p, const Key *k, void *obj, const char *v)
{
    char *field = (char *)obj + k->off;
    unsigned long long u;
    long long i;
    double d;
    switch (k->kind) {
    case K_STR:
        return unescape(p, field, k->size, v);
    case K_UINT:
        if (!parse_u64(p, v, &u))
            return 0;
        if (u > 0xFFFFFFFFull)
            return perr(p, "%s out of range: '%s'", k->name, v);
        *(unsigned *)field = (unsigned)u;
        return 1;
    case K_U64:
        return parse_u64(p, v, (unsigned long long *)field);
    case K_INT:
        if (!parse_int(p, v, &i))
            return 0;
        *(int *)field = (int)i;
        return 1;
    case K_DBL:
        if (!parse_dbl(p, v, &d))
            return 0;
        *(double *)field = d;
        return 1;
    case K_FLAG:
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
            return perr(p, "%s must be 0 or 1: '%s'", k->name, v);
        *(int *)field = v[0] == '1';
        return 1;
    case K_FN:
        break;
    }
    return k->fn(p, obj, v);
}

static int key_bus_id(Parser *p, void *obj, const char *v)
{
    GpuConf *g = obj;
    unsigned fn;
    char tail;
    if (sscanf(v, "%x:%x:%x.%x%c", &g->domain, &g->bus, &g->device, &fn, &tail) != 4 ||
        g->bus > 0xFF || g->device > 0x1F)
        return perr(p, "bus_id must look like 00000000:17:00.0: '%s'", v);
    g->bus_set = 1;
    return 1;
}

static int key_timestamp_base(Parser *p, void *obj, const char *v)
{
    GpuConf *g = obj;
    if (strcmp(v, "wall") != 0 && strcmp(v, "monotonic") != 0)
        return perr(p, "timestamp_base must be wall or monotonic: '%s'", v);
    g->ts_monotonic = v[0] == 'm';
    return 1;
}

static int key_cuda_cc(Parser *p, void *obj, const char *v)
{
    GpuConf *g = obj;
    char tail;
    if (sscanf(v, "%d.%d%c", &g->cc_major, &g->cc_minor, &tail) != 2)
        return perr(p, "cuda_cc must look like 8.0: '%s'", v);
    return 1;
}

/* Splits a comma list and hands each trimmed, non-empty item to `each`. */
static int each_item(Parser *p, void *obj, const char *v, int (*each)(Parser *, void *, char *))
{
    char buf[LINE_LEN];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *item = trim(tok);
        if (*item && !each(p, obj, item))
            return 0;
    }
    return 1;
}

static int check_symbol(Parser *p, const char *name)
{
    if (strlen(name) >= SYM_LEN || !is_known_symbol(name))
        return perr(p, "unknown NVML symbol '%s'", name);
    return 1;
}

static int add_unsupported(Parser *p, void *obj, char *item)
{
    GpuConf *g = obj;
    if (!check_symbol(p, item))
        return 0;
    if (g->nunsupported == MAX_SYMS)
        return perr(p, "too many unsupported symbols");
    snprintf(g->unsupported[g->nunsupported++], SYM_LEN, "%s", item);
    return 1;
}

static int add_fail(Parser *p, void *obj, char *item)
{
    GpuConf *g = obj;
    char *colon = strchr(item, ':');
    long long code;
    if (!colon)
        return perr(p, "fail entries look like symbol:code: '%s'", item);
    *colon = '\0';
    char *sym = trim(item);
    if (!check_symbol(p, sym) || !parse_int(p, trim(colon + 1), &code))
        return 0;
    if (code <= 0)
        return perr(p, "fail code must be a non-zero nvmlReturn_t: '%lld'", code);
    if (g->nfail == MAX_SYMS)
        return perr(p, "too many fail entries");
    snprintf(g->fail[g->nfail].sym, SYM_LEN, "%s", sym);
    g->fail[g->nfail++].code = (nvmlReturn_t)code;
    return 1;
}

static int key_unsupported(Parser *p, void *obj, const char *v)
{
    return each_item(p, obj, v, add_unsupported);
}

static int key_fail(Parser *p, void *obj, const char *v)
{
    return each_item(p, obj, v, add_fail);
}

static int key_memory_mib(Parser *p, void *obj, const char *v)
{
    ProcConf *pr = obj;
    unsigned long long mib;
    if (strcmp(v, "na") == 0) {
        pr->used_bytes = (unsigned long long)NVML_VALUE_NOT_AVAILABLE;
        return 1;
    }
    if (!parse_u64(p, v, &mib))
        return 0;
    pr->used_bytes = mib * MIB;
    return 1;
}

static int key_kind(Parser *p, void *obj, const char *v)
{
    ProcConf *pr = obj;
    if (strcmp(v, "compute") == 0)
        pr->kinds = KIND_COMPUTE;
    else if (strcmp(v, "graphics") == 0)
        pr->kinds = KIND_GRAPHICS;
    else if (strcmp(v, "both") == 0)
        pr->kinds = KIND_COMPUTE | KIND_GRAPHICS;
    else
        return perr(p, "kind must be compute, graphics or both: '%s'", v);
    return 1;
}

static int key_sm(Parser *p, void *obj, const char *v)
{
    ProcConf *pr = obj;
    unsigned long long value;
    pr->sm_factor = 1;
    if (strcmp(v, "follow") == 0) {
        pr->sm = SM_FOLLOW;
    } else if (strncmp(v, "follow:", 7) == 0) {
        pr->sm = SM_FOLLOW;
        if (!parse_dbl(p, v + 7, &pr->sm_factor) || pr->sm_factor < 0)
            return perr(p, "follow factor must be >= 0: '%s'", v);
    } else if (strcmp(v, "idle") == 0) {
        pr->sm = SM_IDLE;
    } else if (strcmp(v, "garbage") == 0) {
        pr->sm = SM_GARBAGE;
    } else {
        if (!parse_u64(p, v, &value) || value > 100)
            return perr(p, "sm must be follow[:factor], idle, garbage or 0..100: '%s'", v);
        pr->sm = SM_CONST;
        pr->sm_value = (unsigned)value;
    }
    return 1;
}

static const Key DRIVER_KEYS[] = {
    KEY("version", K_STR, Scenario, version),
    KEY("cuda", K_INT, Scenario, cuda),
    KEY("nvml", K_STR, Scenario, nvml),
    KEY("t0", K_DBL, Scenario, t0),
    KEY("init_error", K_INT, Scenario, init_error),
    KEY("mismatch_after_s", K_DBL, Scenario, mismatch_after_s),
    {NULL, K_STR, 0, 0, NULL},
};

static const Key GPU_KEYS[] = {
    KEY("uuid", K_STR, GpuConf, uuid),
    KEY("name", K_STR, GpuConf, name),
    KEYFN("bus_id", key_bus_id),
    KEY("pci_device_id", K_UINT, GpuConf, pci_device_id),
    KEY("pci_subsystem_id", K_UINT, GpuConf, pci_subsystem_id),
    KEY("memory_total_mib", K_U64, GpuConf, memory_total_mib),
    KEY("memory_reserved_mib", K_U64, GpuConf, memory_reserved_mib),
    KEY("memory_used_mib", K_U64, GpuConf, memory_used_mib),
    KEY("busy_s", K_DBL, GpuConf, act.busy_s),
    KEY("idle_s", K_DBL, GpuConf, act.idle_s),
    KEY("busy_util", K_UINT, GpuConf, act.busy_util),
    KEY("idle_util", K_UINT, GpuConf, act.idle_util),
    KEY("mem_util", K_UINT, GpuConf, mem_util),
    KEY("temp", K_UINT, GpuConf, temp),
    KEY("fan", K_UINT, GpuConf, fan),
    KEY("power_busy_mw", K_UINT, GpuConf, power_busy_mw),
    KEY("power_idle_mw", K_UINT, GpuConf, power_idle_mw),
    KEY("energy_base_mj", K_U64, GpuConf, energy_base_mj),
    KEY("sm_mhz", K_UINT, GpuConf, sm_mhz),
    KEY("mem_mhz", K_UINT, GpuConf, mem_mhz),
    KEY("pstate", K_UINT, GpuConf, pstate),
    KEY("sample_period_us", K_U64, GpuConf, sample_period_us),
    KEY("buffer_depth", K_UINT, GpuConf, buffer_depth),
    KEY("quiet_when_idle", K_FLAG, GpuConf, quiet_when_idle),
    KEYFN("timestamp_base", key_timestamp_base),
    KEY("util_window_us", K_U64, GpuConf, util_window_us),
    KEY("lost_after_s", K_DBL, GpuConf, lost_after_s),
    KEY("mig", K_FLAG, GpuConf, mig),
    KEY("gpm", K_FLAG, GpuConf, gpm),
    KEYFN("unsupported", key_unsupported),
    KEYFN("fail", key_fail),
    KEY("power_limit_mw", K_UINT, GpuConf, power_limit_mw),
    KEY("clocks_event_reasons", K_U64, GpuConf, clocks_event_reasons),
    KEY("encoder_util", K_UINT, GpuConf, encoder_util),
    KEY("decoder_util", K_UINT, GpuConf, decoder_util),
    KEY("pcie_tx_kbs", K_UINT, GpuConf, pcie_tx_kbs),
    KEY("pcie_rx_kbs", K_UINT, GpuConf, pcie_rx_kbs),
    KEY("ecc_uncorrected_volatile", K_U64, GpuConf, ecc_uncorrected_volatile),
    KEY("ecc_uncorrected_aggregate", K_U64, GpuConf, ecc_uncorrected_aggregate),
    KEY("retired_pages", K_UINT, GpuConf, retired_pages),
    KEY("remapped_rows_uncorrectable", K_UINT, GpuConf, remapped_rows_uncorrectable),
    KEY("remapped_rows_correctable", K_UINT, GpuConf, remapped_rows_correctable),
    KEY("xid", K_U64, GpuConf, xid),
    KEY("xid_after_s", K_DBL, GpuConf, xid_after_s),
    KEY("architecture", K_UINT, GpuConf, architecture),
    KEYFN("cuda_cc", key_cuda_cc),
    {NULL, K_STR, 0, 0, NULL},
};

static const Key MIG_KEYS[] = {
    KEY("uuid", K_STR, MigConf, uuid),
    KEY("name", K_STR, MigConf, name),
    KEY("gi", K_UINT, MigConf, gi),
    KEY("ci", K_UINT, MigConf, ci),
    KEY("memory_total_mib", K_U64, MigConf, memory_total_mib),
    KEY("memory_used_mib", K_U64, MigConf, memory_used_mib),
    KEY("busy_s", K_DBL, MigConf, act.busy_s),
    KEY("idle_s", K_DBL, MigConf, act.idle_s),
    KEY("busy_util", K_UINT, MigConf, act.busy_util),
    KEY("idle_util", K_UINT, MigConf, act.idle_util),
    {NULL, K_STR, 0, 0, NULL},
};

static const Key PROCESS_KEYS[] = {
    KEY("pid", K_UINT, ProcConf, pid),
    KEYFN("memory_mib", key_memory_mib),
    KEYFN("kind", key_kind),
    KEYFN("sm", key_sm),
    {NULL, K_STR, 0, 0, NULL},
};

static void default_driver(Scenario *s)
{
    snprintf(s->version, sizeof s->version, "%s", DEFAULT_VERSION);
    s->cuda = DEFAULT_CUDA;
}

static void default_gpu(GpuConf *g)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "NVIDIA A100-SXM4-80GB");
    g->pci_device_id = 0x20B210DE;
    g->pci_subsystem_id = 0x147E10DE;
    g->memory_total_mib = 81920;
    g->act.busy_util = 100;
    g->temp = 40;
    g->fan = 30;
    g->power_busy_mw = 250000;
    g->power_idle_mw = 60000;
    g->energy_base_mj = 1000000;
    g->sm_mhz = 1410;
    g->mem_mhz = 1593;
    g->sample_period_us = 166667;
    g->buffer_depth = 120;
    g->util_window_us = 1000000;
    g->power_limit_mw = 300000;
    g->architecture = NVML_DEVICE_ARCH_AMPERE;
    g->cc_major = 8;
}

static void default_mig(MigConf *m)
{
    memset(m, 0, sizeof *m);
    m->memory_total_mib = 9728;
    m->act.busy_util = 100;
}

static void default_process(ProcConf *pr)
{
    memset(pr, 0, sizeof *pr);
    pr->used_bytes = 1024 * MIB;
    pr->kinds = KIND_COMPUTE;
    pr->sm = SM_FOLLOW;
    pr->sm_factor = 1;
}

static int open_gpu(Parser *p)
{
    Scenario *s = p->scn;
    if (s->ngpus == MAX_GPUS)
        return perr(p, "more than %d [gpu] sections", MAX_GPUS);
    p->gpu = &s->gpus[s->ngpus++];
    default_gpu(p->gpu);
    p->mig = NULL;
    p->owner = &p->gpu->procs;
    return 1;
}

static int open_mig(Parser *p)
{
    if (!p->gpu)
        return perr(p, "[mig] before any [gpu]");
    if (!p->gpu->mig)
        return perr(p, "[mig] under a [gpu] without mig = 1");
    if (p->gpu->nmigs == MAX_MIGS)
        return perr(p, "more than %d [mig] sections on one GPU", MAX_MIGS);
    p->mig = &p->gpu->migs[p->gpu->nmigs++];
    default_mig(p->mig);
    p->owner = &p->mig->procs;
    return 1;
}

static int open_process(Parser *p)
{
    if (!p->owner)
        return perr(p, "[process] before any [gpu] or [mig]");
    if (p->owner->n == MAX_PROCS)
        return perr(p, "more than %d processes on one device", MAX_PROCS);
    p->proc = &p->owner->v[p->owner->n++];
    default_process(p->proc);
    return 1;
}

static int open_section(Parser *p, const char *name)
{
    if (strcmp(name, "driver") == 0) {
        if (p->seen_driver || p->scn->ngpus)
            return perr(p, "[driver] must come first, once");
        p->seen_driver = 1;
        p->sec = SEC_DRIVER;
        return 1;
    }
    p->sec = strcmp(name, "gpu") == 0       ? SEC_GPU
             : strcmp(name, "mig") == 0     ? SEC_MIG
             : strcmp(name, "process") == 0 ? SEC_PROCESS
                                            : SEC_NONE;
    switch (p->sec) {
    case SEC_GPU: return open_gpu(p);
    case SEC_MIG: return open_mig(p);
    case SEC_PROCESS: return open_process(p);
    default: return perr(p, "unknown section [%s]", name);
    }
}

static int set_key(Parser *p, const char *key, const char *value)
{
    static const Key *const tables[] = {NULL, DRIVER_KEYS, GPU_KEYS, MIG_KEYS, PROCESS_KEYS};
    static const char *const names[] = {"", "driver", "gpu", "mig", "process"};
    void *objs[] = {NULL, p->scn, p->gpu, p->mig, p->proc};
    if (p->sec == SEC_NONE)
        return perr(p, "key '%s' outside a section", key);
    for (const Key *k = tables[p->sec]; k->name; k++)
        if (strcmp(k->name, key) == 0)
            return set_plain(p, k, objs[p->sec], value);
    return perr(p, "unknown key '%s' in [%s]", key, names[p->sec]);
}

static int parse_line(Parser *p, char *raw)
{
    char *hash = strchr(raw, '#');
    if (hash)
        *hash = '\0';
    char *line = trim(raw);
    if (!*line)
        return 1;
    if (*line == '[') {
        char *close = strchr(line, ']');
        if (!close || *trim(close + 1))
            return perr(p, "bad section header '%s'", line);
        *close = '\0';
        return open_section(p, trim(line + 1));
    }
    char *eq = strchr(line, '=');
    if (!eq)
        return perr(p, "expected key = value: '%s'", line);
    *eq = '\0';
    return set_key(p, trim(line), trim(eq + 1));
}

/* ---- validation: scenario mistakes are loud, never silently "fixed" ---- */

static int uuid_taken(const Scenario *s, const char *uuid, const void *self)
{
    for (int i = 0; i < s->ngpus; i++) {
        const GpuConf *g = &s->gpus[i];
        if ((const void *)g != self && strcmp(g->uuid, uuid) == 0)
            return 1;
        for (int j = 0; j < g->nmigs; j++)
            if ((const void *)&g->migs[j] != self && strcmp(g->migs[j].uuid, uuid) == 0)
                return 1;
    }
    return 0;
}

static int check_activity(Parser *p, const Activity *a, const char *where)
{
    if (a->busy_s < 0 || a->idle_s < 0)
        return perr(p, "%s: busy_s and idle_s must be >= 0", where);
    if (a->busy_util > 100 || a->idle_util > 100)
        return perr(p, "%s: busy_util and idle_util must be 0..100", where);
    return 1;
}

static int check_procs(Parser *p, const ProcList *l, const char *where)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i].pid == 0)
            return perr(p, "%s: [process] needs a pid", where);
    return 1;
}

static int check_mig(Parser *p, const Scenario *s, const GpuConf *g, int j)
{
    const MigConf *m = &g->migs[j];
    if (!m->uuid[0])
        return perr(p, "%s: [mig] %d needs a uuid", g->uuid, j);
    if (uuid_taken(s, m->uuid, m))
        return perr(p, "duplicate uuid %s", m->uuid);
    for (int k = 0; k < j; k++)
        if (g->migs[k].gi == m->gi && g->migs[k].ci == m->ci)
            return perr(p, "%s: two MIG devices with gi %u ci %u", g->uuid, m->gi, m->ci);
    if (m->memory_used_mib > m->memory_total_mib)
        return perr(p, "%s: memory_used_mib > memory_total_mib", m->uuid);
    return check_activity(p, &m->act, m->uuid) && check_procs(p, &m->procs, m->uuid);
}

static int check_mig_parent(Parser *p, const GpuConf *g)
{
    unsigned long long sum = 0;
    if (g->architecture < NVML_DEVICE_ARCH_AMPERE)
        return perr(p, "%s: MIG needs architecture >= 7 (Ampere)", g->uuid);
    if (g->procs.n)
        return perr(p, "%s: in MIG mode processes run on [mig] devices, not the GPU", g->uuid);
    if (g->memory_used_mib)
        return perr(p, "%s: in MIG mode memory used is the sum of the MIG devices", g->uuid);
    for (int j = 0; j < g->nmigs; j++)
        sum += g->migs[j].memory_total_mib;
    if (sum + g->memory_reserved_mib > g->memory_total_mib)
        return perr(p, "%s: MIG memory exceeds the GPU's", g->uuid);
    return 1;
}

static int check_limits(Parser *p, const GpuConf *g)
{
    if (g->mem_util > 100 || g->fan > 100 || g->encoder_util > 100 || g->decoder_util > 100)
        return perr(p, "%s: mem_util, fan, encoder_util, decoder_util must be 0..100", g->uuid);
    if (g->pstate > NVML_PSTATE_15)
        return perr(p, "%s: pstate must be 0..15", g->uuid);
    if (!g->sample_period_us || !g->util_window_us)
        return perr(p, "%s: sample_period_us and util_window_us must be > 0", g->uuid);
    if (g->buffer_depth < 1 || g->buffer_depth > MAX_DEPTH)
        return perr(p, "%s: buffer_depth must be 1..%d", g->uuid, MAX_DEPTH);
    if (g->memory_reserved_mib + g->memory_used_mib > g->memory_total_mib)
        return perr(p, "%s: reserved + used memory exceeds memory_total_mib", g->uuid);
    return 1;
}

static int check_features(Parser *p, const GpuConf *g)
{
    if (g->gpm && g->architecture < NVML_DEVICE_ARCH_HOPPER)
        return perr(p, "%s: GPM needs architecture >= 9 (Hopper)", g->uuid);
    if (g->retired_pages && g->architecture >= NVML_DEVICE_ARCH_AMPERE)
        return perr(p, "%s: retired_pages needs architecture < 7: Ampere remaps rows", g->uuid);
    if ((g->remapped_rows_correctable || g->remapped_rows_uncorrectable) &&
        g->architecture < NVML_DEVICE_ARCH_AMPERE)
        return perr(p, "%s: remapped rows need architecture >= 7 (Ampere)", g->uuid);
    return 1;
}

static int check_gpu(Parser *p, const Scenario *s, int i)
{
    const GpuConf *g = &s->gpus[i];
    if (!g->uuid[0])
        return perr(p, "[gpu] %d needs a uuid", i);
    if (uuid_taken(s, g->uuid, g))
        return perr(p, "duplicate uuid %s", g->uuid);
    if (!check_limits(p, g) || !check_features(p, g) || !check_activity(p, &g->act, g->uuid))
        return 0;
    if (g->mig && !check_mig_parent(p, g))
        return 0;
    for (int j = 0; j < g->nmigs; j++)
        if (!check_mig(p, s, g, j))
            return 0;
    return check_procs(p, &g->procs, g->uuid);
}

static void finish_scenario(Scenario *s)
{
    if (!s->nvml[0])
        snprintf(s->nvml, sizeof s->nvml, "%d.%.60s", NVML_API, s->version);
    s->t0_us = llround(s->t0 * 1e6);
    for (int i = 0; i < s->ngpus; i++) {
        GpuConf *g = &s->gpus[i];
        if (!g->bus_set) /* distinct default bus ids: 17, 18, ... like a dense board */
            g->bus = (0x17 + (unsigned)i) & 0xFF;
    }
}

/* Parses `path` into a new Scenario; NULL on error (one line on stderr). *unreadable is
 * set when the file cannot be opened at all. */
static Scenario *parse_file(const char *path, int *unreadable)
{
    FILE *f = fopen(path, "r");
    char raw[LINE_LEN];
    Parser p = {.path = path};
    *unreadable = !f;
    if (!f)
        return NULL;
    p.scn = calloc(1, sizeof *p.scn);
    if (!p.scn) {
        fclose(f);
        return NULL;
    }
    default_driver(p.scn);
    while (!p.failed && fgets(raw, sizeof raw, f)) {
        p.line++;
        if (!strchr(raw, '\n') && !feof(f))
            perr(&p, "line longer than %d characters", LINE_LEN - 2);
        else
            parse_line(&p, raw);
    }
    fclose(f);
    p.line = 0;
    for (int i = 0; !p.failed && i < p.scn->ngpus; i++)
        check_gpu(&p, p.scn, i);
    if (p.failed) {
        free(p.scn);
        return NULL;
    }
    finish_scenario(p.scn);
    return p.scn;
}

/* ------------------------------------------------------------------------------------ */
/* Library state                                                                         */
/* ------------------------------------------------------------------------------------ */

static void install(Scenario *s)
{
    Scenario *old = g_scn;
    g_scn = s;
    for (int i = 0; i < MAX_GPUS; i++) {
        Dev *d = &g_gpus[i];
        const GpuConf *g = i < s->ngpus ? &s->gpus[i] : NULL;
        *d = (Dev){.present = g != NULL, .index = (unsigned)i, .gpu = g};
        for (int j = 0; j < MAX_MIGS; j++) {
            int here = g && g->mig && j < g->nmigs;
            g_migs[i][j] = (Dev){.is_mig = 1, .present = here, .index = (unsigned)j, .parent = d,
                                 .gpu = g, .mig = here ? &g->migs[j] : NULL};
        }
    }
    free(old);
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Re-reads the scenario when the file changed since it was last read. */
static void maybe_reload(void)
{
    struct stat st;
    int unreadable;
    if (stat(g_path, &st) != 0 || same_file(&st, &g_stat))
        return;
    g_stat = st;
    Scenario *s = parse_file(g_path, &unreadable);
    if (s)
        install(s);
    else
        fprintf(stderr, "nvml-standin: %s: keeping the previous scenario\n", g_path);
}

static int mismatched(void) { return g_scn && timer_expired(g_scn->mismatch_after_s); }

static int gpu_lost(const GpuConf *g) { return timer_expired(g->lost_after_s); }

/* Locks and applies the checks every entry point shares.  Always pair with leave(). */
static nvmlReturn_t enter(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_refcount == 0)
        return NVML_ERROR_UNINITIALIZED;
    maybe_reload();
    return mismatched() ? NVML_ERROR_LIB_RM_VERSION_MISMATCH : NVML_SUCCESS;
}

static nvmlReturn_t leave(nvmlReturn_t r)
{
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* Reads the scenario named by NVML_STANDIN_SCENARIO; a new path restarts the timers. */
static nvmlReturn_t load_at_init(void)
{
    const char *path = getenv("NVML_STANDIN_SCENARIO");
    struct stat st;
    int unreadable;
    if (!path || !*path || strlen(path) >= sizeof g_path || stat(path, &st) != 0)
        return NVML_ERROR_DRIVER_NOT_LOADED;
    Scenario *s = parse_file(path, &unreadable);
    if (!s)
        return unreadable ? NVML_ERROR_DRIVER_NOT_LOADED : NVML_ERROR_UNKNOWN;
    if (strcmp(path, g_path) != 0)
        g_epoch_set = 0;
    snprintf(g_path, sizeof g_path, "%s", path);
    g_stat = st;
    install(s);
    return NVML_SUCCESS;
}

static nvmlReturn_t init_locked(void)
{
    nvmlReturn_t r = load_at_init();
    if (r != NVML_SUCCESS)
        return r;
    if (mismatched())
        return NVML_ERROR_LIB_RM_VERSION_MISMATCH;
    if (g_scn->init_error)
        return (nvmlReturn_t)g_scn->init_error;
    if (!g_epoch_set) {
        g_epoch_set = 1;
        g_epoch = mono_s();
        g_wall_minus_mono = clock_us(CLOCK_REALTIME) - clock_us(CLOCK_MONOTONIC);
    }
    g_refcount++;
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------ */
/* Device resolution                                                                     */
/* ------------------------------------------------------------------------------------ */

typedef unsigned Where;
#define AT_GPU 1u    /* a GPU not in MIG mode */
#define AT_PARENT 2u /* a GPU in MIG mode */
#define AT_MIG 4u    /* a MIG device handle */
#define AT_PHYS (AT_GPU | AT_PARENT)
#define AT_ANY (AT_PHYS | AT_MIG)

static Dev *lookup(nvmlDevice_t h)
{
    uintptr_t p = (uintptr_t)h;
    uintptr_t gpus = (uintptr_t)g_gpus, migs = (uintptr_t)g_migs;
    if (p >= gpus && p < gpus + sizeof g_gpus && (p - gpus) % sizeof(Dev) == 0)
        return h;
    if (p >= migs && p < migs + sizeof g_migs && (p - migs) % sizeof(Dev) == 0)
        return h;
    return NULL;
}

static Where place(const Dev *d) { return d->is_mig ? AT_MIG : d->gpu->mig ? AT_PARENT : AT_GPU; }

/* The scenario's `fail` and `unsupported` answers for `sym` on this GPU. */
static nvmlReturn_t scripted(const GpuConf *g, const char *sym)
{
    for (int i = 0; i < g->nfail; i++)
        if (strcmp(g->fail[i].sym, sym) == 0)
            return g->fail[i].code;
    for (int i = 0; i < g->nunsupported; i++)
        if (strcmp(g->unsupported[i], sym) == 0)
            return NVML_ERROR_NOT_SUPPORTED;
    return NVML_SUCCESS;
}

static nvmlReturn_t resolve(const char *sym, nvmlDevice_t h, Where where, Dev **out)
{
    Dev *d = lookup(h);
    if (!d)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->present) /* a GPU gone from a rewritten scenario fell off the bus */
        return d->is_mig ? NVML_ERROR_INVALID_ARGUMENT : NVML_ERROR_GPU_IS_LOST;
    if (gpu_lost(d->gpu))
        return NVML_ERROR_GPU_IS_LOST;
    nvmlReturn_t r = scripted(d->gpu, sym);
    if (r != NVML_SUCCESS)
        return r;
    if (!(where & place(d)))
        return NVML_ERROR_NOT_SUPPORTED;
    *out = d;
    return NVML_SUCCESS;
}

static nvmlReturn_t enter_dev(const char *sym, nvmlDevice_t h, Where where, Dev **out)
{
    nvmlReturn_t r = enter();
    return r != NVML_SUCCESS ? r : resolve(sym, h, where, out);
}

/* ------------------------------------------------------------------------------------ */
/* Init, shutdown, errors, system                                                        */
/* ------------------------------------------------------------------------------------ */

nvmlReturn_t DECLDIR nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    pthread_mutex_lock(&g_lock);
    return leave(init_locked());
}

nvmlReturn_t DECLDIR nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t DECLDIR nvmlInit(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t DECLDIR nvmlShutdown(void)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        g_refcount--;
    return leave(r);
}

const DECLDIR char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt Request Issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request.";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    case NVML_ERROR_DEPRECATED: return "Deprecated";
    default: return "Unknown Error";
    }
}

nvmlReturn_t DECLDIR nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        r = put_str(version, length, g_scn->version);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        r = put_str(version, length, g_scn->nvml);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        r = put_int(cudaDriverVersion, g_scn->cuda);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

/* ------------------------------------------------------------------------------------ */
/* Enumeration and identity                                                              */
/* ------------------------------------------------------------------------------------ */

nvmlReturn_t DECLDIR nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS) /* lost GPUs still count, as on a real system */
        r = put_uint(deviceCount, (unsigned)g_scn->ngpus);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return nvmlDeviceGetCount_v2(deviceCount);
}

static nvmlReturn_t handle_by_index(const char *sym, unsigned index, nvmlDevice_t *device)
{
    Dev *d;
    if (!device || index >= (unsigned)g_scn->ngpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t r = resolve(sym, &g_gpus[index], AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        *device = d;
    return r;
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        r = handle_by_index(__func__, index, device);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        r = handle_by_index(__func__, index, device);
    return leave(r);
}

static const char *uuid_of(const Dev *d) { return d->is_mig ? d->mig->uuid : d->gpu->uuid; }

static Dev *find_uuid(const char *uuid)
{
    for (int i = 0; i < g_scn->ngpus; i++) {
        if (strcmp(g_gpus[i].gpu->uuid, uuid) == 0)
            return &g_gpus[i];
        for (int j = 0; j < MAX_MIGS; j++)
            if (g_migs[i][j].present && strcmp(g_migs[i][j].mig->uuid, uuid) == 0)
                return &g_migs[i][j];
    }
    return NULL;
}

static nvmlReturn_t handle_by_uuid(const char *uuid, nvmlDevice_t *device)
{
    Dev *d;
    if (!uuid || !device)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < g_scn->ngpus; i++) /* nvml.h: GPU_IS_LOST "if any GPU has fallen off" */
        if (gpu_lost(&g_scn->gpus[i]))
            return NVML_ERROR_GPU_IS_LOST;
    Dev *found = find_uuid(uuid);
    if (!found)
        return NVML_ERROR_NOT_FOUND;
    nvmlReturn_t r = resolve("nvmlDeviceGetHandleByUUID", found, AT_ANY, &d);
    if (r == NVML_SUCCESS)
        *device = d;
    return r;
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        r = handle_by_uuid(uuid, device);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_ANY, &d);
    if (r == NVML_SUCCESS)
        r = put_str(uuid, length, uuid_of(d));
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_ANY, &d);
    if (r == NVML_SUCCESS)
        r = put_str(name, length, d->is_mig ? d->mig->name : d->gpu->name);
    return leave(r);
}

static nvmlReturn_t fill_pci(const GpuConf *g, nvmlPciInfo_t *pci)
{
    unsigned domain = g->domain, bus = g->bus & 0xFF, device = g->device & 0x1F;
    if (!pci)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0", domain & 0xFFFF, bus, device);
    snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.0", domain, bus, device);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = device;
    pci->pciDeviceId = g->pci_device_id;
    pci->pciSubSystemId = g->pci_subsystem_id;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = fill_pci(d->gpu, pci);
    return leave(r);
}

#if HAS_R470
nvmlReturn_t DECLDIR nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_ANY, &d);
    if (r == NVML_SUCCESS)
        r = put_uint(arch, d->gpu->architecture);
    return leave(r);
}
#endif

nvmlReturn_t DECLDIR nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_ANY, &d);
    if (r == NVML_SUCCESS && (!major || !minor))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        *major = d->gpu->cc_major;
        *minor = d->gpu->cc_minor;
    }
    return leave(r);
}

/* ------------------------------------------------------------------------------------ */
/* Memory                                                                                */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    unsigned long long total, reserved, used; /* bytes; used excludes reserved */
} Mem;

static Mem mem_of(const Dev *d)
{
    const GpuConf *g = d->gpu;
    Mem m = {g->memory_total_mib * MIB, g->memory_reserved_mib * MIB, g->memory_used_mib * MIB};
    if (d->is_mig)
        return (Mem){d->mig->memory_total_mib * MIB, 0, d->mig->memory_used_mib * MIB};
    if (g->mig)
        for (int j = 0; j < g->nmigs; j++)
            m.used += g->migs[j].memory_used_mib * MIB;
    return m;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_ANY, &d);
    if (r == NVML_SUCCESS && !memory)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) { /* v1: used = reserved + allocated */
        Mem m = mem_of(d);
        memory->total = m.total;
        memory->used = m.reserved + m.used;
        memory->free = m.total - memory->used;
    }
    return leave(r);
}

#if HAS_R535
static nvmlReturn_t fill_mem_v2(const Dev *d, nvmlMemory_v2_t *memory)
{
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != nvmlMemory_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    Mem m = mem_of(d);
    memory->total = m.total;
    memory->reserved = m.reserved;
    memory->used = m.used;
    memory->free = m.total - m.reserved - m.used;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_ANY, &d);
    if (r == NVML_SUCCESS)
        r = fill_mem_v2(d, memory);
    return leave(r);
}
#endif

/* ------------------------------------------------------------------------------------ */
/* Utilization, sensors, power, clocks                                                   */
/* ------------------------------------------------------------------------------------ */

nvmlReturn_t DECLDIR nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_GPU, &d);
    if (r == NVML_SUCCESS && !utilization)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        double x1 = rel_s(clock_us(CLOCK_REALTIME));
        double x0 = x1 - (double)d->gpu->util_window_us / 1e6;
        utilization->gpu = mean_util(&d->gpu->act, x0, x1);
        utilization->memory = d->gpu->mem_util;
    }
    return leave(r);
}

#if !HAS_NEXT
nvmlReturn_t DECLDIR nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType,
                                              unsigned int *temp)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS && sensorType != NVML_TEMPERATURE_GPU)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        r = put_uint(temp, d->gpu->temp);
    return leave(r);
}
#endif

#if HAS_NEXT
static nvmlReturn_t fill_temperature(const GpuConf *g, nvmlTemperature_t *t)
{
    if (!t)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (t->version != nvmlTemperature_v1)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (t->sensorType != NVML_TEMPERATURE_GPU)
        return NVML_ERROR_INVALID_ARGUMENT;
    t->temperature = (int)g->temp;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_t *temperature)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = fill_temperature(d->gpu, temperature);
    return leave(r);
}
#endif

nvmlReturn_t DECLDIR nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_uint(speed, d->gpu->fan);
    return leave(r);
}

static unsigned power_now(const GpuConf *g)
{
    return busy_at(&g->act, rel_s(clock_us(CLOCK_REALTIME))) ? g->power_busy_mw : g->power_idle_mw;
}

nvmlReturn_t DECLDIR nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_uint(power, power_now(d->gpu));
    return leave(r);
}

/* energy_base_mj + the exact integral of power over (t0, now]; mW x s = mJ. */
static unsigned long long energy_now(const GpuConf *g)
{
    double x = fmax(0, rel_s(clock_us(CLOCK_REALTIME)));
    double busy = busy_upto(&g->act, x);
    double mj = busy * g->power_busy_mw + (x - busy) * g->power_idle_mw;
    return g->energy_base_mj + (unsigned long long)llround(mj);
}

nvmlReturn_t DECLDIR nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_u64(energy, energy_now(d->gpu));
    return leave(r);
}

static nvmlReturn_t clock_of(const GpuConf *g, nvmlClockType_t type, unsigned *clock)
{
    switch (type) {
    case NVML_CLOCK_GRAPHICS:
    case NVML_CLOCK_SM:
        return put_uint(clock, g->sm_mhz);
    case NVML_CLOCK_MEM:
        return put_uint(clock, g->mem_mhz);
    case NVML_CLOCK_VIDEO:
        return NVML_ERROR_NOT_SUPPORTED;
    default:
        return NVML_ERROR_INVALID_ARGUMENT;
    }
}

nvmlReturn_t DECLDIR nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = clock_of(d->gpu, type, clock);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetPerformanceState(nvmlDevice_t device, nvmlPstates_t *pState)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS && !pState)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *pState = (nvmlPstates_t)d->gpu->pstate;
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_uint(limit, d->gpu->power_limit_mw);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_uint(limit, d->gpu->power_limit_mw);
    return leave(r);
}

#if HAS_R535
nvmlReturn_t DECLDIR nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
                                                            unsigned long long *clocksEventReasons)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_u64(clocksEventReasons, d->gpu->clocks_event_reasons);
    return leave(r);
}
#endif

#if !HAS_NEXT
nvmlReturn_t DECLDIR nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
                                                               unsigned long long *clocksThrottleReasons)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_u64(clocksThrottleReasons, d->gpu->clocks_event_reasons);
    return leave(r);
}
#endif

/* Encoder and decoder are "not currently supported" on MIG-enabled GPUs (nvml.h). */
static nvmlReturn_t codec_util(unsigned value, unsigned *utilization, unsigned *samplingPeriodUs)
{
    if (!utilization || !samplingPeriodUs)
        return NVML_ERROR_INVALID_ARGUMENT;
    *utilization = value;
    *samplingPeriodUs = 1000000;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                     unsigned int *samplingPeriodUs)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_GPU, &d);
    if (r == NVML_SUCCESS)
        r = codec_util(d->gpu->encoder_util, utilization, samplingPeriodUs);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                     unsigned int *samplingPeriodUs)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_GPU, &d);
    if (r == NVML_SUCCESS)
        r = codec_util(d->gpu->decoder_util, utilization, samplingPeriodUs);
    return leave(r);
}

static nvmlReturn_t pcie_of(const GpuConf *g, nvmlPcieUtilCounter_t counter, unsigned *value)
{
    if (counter == NVML_PCIE_UTIL_TX_BYTES)
        return put_uint(value, g->pcie_tx_kbs);
    if (counter == NVML_PCIE_UTIL_RX_BYTES)
        return put_uint(value, g->pcie_rx_kbs);
    return NVML_ERROR_INVALID_ARGUMENT;
}

nvmlReturn_t DECLDIR nvmlDeviceGetPcieThroughput(nvmlDevice_t device, nvmlPcieUtilCounter_t counter,
                                                 unsigned int *value)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = pcie_of(d->gpu, counter, value);
    return leave(r);
}

/* ------------------------------------------------------------------------------------ */
/* Memory errors                                                                         */
/* ------------------------------------------------------------------------------------ */

static nvmlReturn_t ecc_of(const Dev *d, nvmlMemoryErrorType_t type, nvmlEccCounterType_t counter,
                           unsigned long long *count)
{
    if (type >= NVML_MEMORY_ERROR_TYPE_COUNT || counter >= NVML_ECC_COUNTER_TYPE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (place(d) == AT_PARENT && counter == NVML_VOLATILE_ECC) /* nvml.h: not via device handles */
        return NVML_ERROR_NOT_SUPPORTED;
    if (type == NVML_MEMORY_ERROR_TYPE_CORRECTED)
        return put_u64(count, 0);
    return put_u64(count, counter == NVML_VOLATILE_ECC ? d->gpu->ecc_uncorrected_volatile
                                                       : d->gpu->ecc_uncorrected_aggregate);
}

nvmlReturn_t DECLDIR nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t errorType,
                                                 nvmlEccCounterType_t counterType,
                                                 unsigned long long *eccCounts)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = ecc_of(d, errorType, counterType, eccCounts);
    return leave(r);
}

static nvmlReturn_t retired_of(const GpuConf *g, nvmlPageRetirementCause_t cause, unsigned *count,
                               unsigned long long *addresses)
{
    if (g->architecture >= NVML_DEVICE_ARCH_AMPERE) /* Ampere and later remap rows instead */
        return NVML_ERROR_NOT_SUPPORTED;
    if (!count || cause >= NVML_PAGE_RETIREMENT_CAUSE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned n = cause == NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR ? g->retired_pages : 0;
    if (n && (!addresses || *count < n)) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned i = 0; i < n; i++)
        addresses[i] = 0x100000ULL * (i + 1); /* page addresses are opaque to a monitor */
    *count = n;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetRetiredPages(nvmlDevice_t device, nvmlPageRetirementCause_t cause,
                                               unsigned int *pageCount, unsigned long long *addresses)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = retired_of(d->gpu, cause, pageCount, addresses);
    return leave(r);
}

#if HAS_R470
static nvmlReturn_t remapped_of(const GpuConf *g, unsigned *corr, unsigned *unc, unsigned *pending,
                                unsigned *failure)
{
    if (g->architecture < NVML_DEVICE_ARCH_AMPERE)
        return NVML_ERROR_NOT_SUPPORTED;
    if (!corr || !unc || !pending || !failure)
        return NVML_ERROR_INVALID_ARGUMENT;
    *corr = g->remapped_rows_correctable;
    *unc = g->remapped_rows_uncorrectable;
    *pending = 0;
    *failure = 0;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrRows,
                                               unsigned int *uncRows, unsigned int *isPending,
                                               unsigned int *failureOccurred)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = remapped_of(d->gpu, corrRows, uncRows, isPending, failureOccurred);
    return leave(r);
}
#endif

/* ------------------------------------------------------------------------------------ */
/* Sample buffer                                                                         */
/* ------------------------------------------------------------------------------------ */

/* Reported timestamp of a wall-clock instant in the GPU's timestamp base. */
static unsigned long long stamp(const GpuConf *g, int64_t wall_us)
{
    return (unsigned long long)(g->ts_monotonic ? wall_us - g_wall_minus_mono : wall_us);
}

static int64_t grid_time(int64_t k, int64_t period_us) { return g_scn->t0_us + k * period_us; }

static int window_quiet(const Activity *a, int64_t k, int64_t period_us)
{
    double x1 = rel_s(grid_time(k, period_us)), x0 = rel_s(grid_time(k - 1, period_us));
    return busy_upto(a, x1) - busy_upto(a, x0) <= 1e-9;
}

/* Grid indices of the samples the buffer holds now, newest first. */
static int ring(const GpuConf *g, int64_t now_us, int64_t *ks)
{
    int64_t period = (int64_t)g->sample_period_us;
    int64_t k = floor_div(now_us - g_scn->t0_us, period);
    int depth = (int)g->buffer_depth, n = 0;
    if (!g->quiet_when_idle) {
        for (; n < depth; n++)
            ks[n] = k - n;
        return n;
    }
    if (never_busy(&g->act))
        return 0;
    /* every duty cycle has a busy window, so this bound always finds `depth` of them */
    double cycle_us = (g->act.busy_s + g->act.idle_s) * 1e6;
    long long limit = (long long)depth * (2 + (long long)ceil(cycle_us / (double)period));
    for (long long scanned = 0; n < depth && scanned < limit; scanned++, k--)
        if (!window_quiet(&g->act, k, period))
            ks[n++] = k;
    return n;
}

static unsigned sample_value(const GpuConf *g, nvmlSamplingType_t type, int64_t k)
{
    int64_t period = (int64_t)g->sample_period_us;
    if (type == NVML_MEMORY_UTILIZATION_SAMPLES)
        return g->mem_util;
    return mean_util(&g->act, rel_s(grid_time(k - 1, period)), rel_s(grid_time(k, period)));
}

static nvmlReturn_t samples_of(const GpuConf *g, nvmlSamplingType_t type, unsigned long long last,
                               nvmlValueType_t *valType, unsigned *count, nvmlSample_t *samples)
{
    static int64_t ks[MAX_DEPTH]; /* guarded by g_lock */
    if (!valType || !count)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (type != NVML_GPU_UTILIZATION_SAMPLES && type != NVML_MEMORY_UTILIZATION_SAMPLES)
        return NVML_ERROR_NOT_SUPPORTED;
    *valType = NVML_VALUE_TYPE_UNSIGNED_INT;
    if (!samples) {
        *count = g->buffer_depth;
        return NVML_SUCCESS;
    }
    if (*count == 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    int n = ring(g, clock_us(CLOCK_REALTIME), ks);
    unsigned written = 0;
    for (int i = n - 1; i >= 0 && written < *count; i--) {
        unsigned long long ts = stamp(g, grid_time(ks[i], (int64_t)g->sample_period_us));
        if (ts <= last)
            continue;
        memset(&samples[written].sampleValue, 0, sizeof samples[written].sampleValue);
        samples[written].timeStamp = ts;
        samples[written++].sampleValue.uiVal = sample_value(g, type, ks[i]);
    }
    if (!written)
        return NVML_ERROR_NOT_FOUND;
    *count = written;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetSamples(nvmlDevice_t device, nvmlSamplingType_t type,
                                          unsigned long long lastSeenTimeStamp,
                                          nvmlValueType_t *sampleValType, unsigned int *sampleCount,
                                          nvmlSample_t *samples)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_GPU, &d);
    if (r == NVML_SUCCESS)
        r = samples_of(d->gpu, type, lastSeenTimeStamp, sampleValType, sampleCount, samples);
    return leave(r);
}

/* ------------------------------------------------------------------------------------ */
/* Process utilization                                                                   */
/* ------------------------------------------------------------------------------------ */

static unsigned process_sm(const GpuConf *g, const ProcConf *pr, int64_t k)
{
    switch (pr->sm) {
    case SM_IDLE:
        return 0;
    case SM_GARBAGE:
        return GARBAGE_UTIL;
    case SM_CONST:
        return pr->sm_value;
    case SM_FOLLOW:
        break;
    }
    double util = mean_util(&g->act, rel_s(grid_time(k - 1, 1000000)), rel_s(grid_time(k, 1000000)));
    long v = lround(util * pr->sm_factor);
    return v > 100 ? 100 : (unsigned)v;
}

/* Counts (and, when out != NULL, writes up to max of) the samples newer than `last`. */
static unsigned process_samples(const GpuConf *g, unsigned long long last,
                                nvmlProcessUtilizationSample_t *out, unsigned max)
{
    int64_t newest = floor_div(clock_us(CLOCK_REALTIME) - g_scn->t0_us, 1000000);
    unsigned n = 0;
    for (int64_t k = newest - (int64_t)g->buffer_depth + 1; k <= newest; k++) {
        unsigned long long ts = stamp(g, grid_time(k, 1000000));
        for (int i = 0; ts > last && i < g->procs.n; i++) {
            unsigned sm = process_sm(g, &g->procs.v[i], k);
            if (sm == 0) /* NVML omits processes with zero use */
                continue;
            if (out && n < max)
                out[n] = (nvmlProcessUtilizationSample_t){
                    .pid = g->procs.v[i].pid, .timeStamp = ts, .smUtil = sm};
            n++;
        }
    }
    return n;
}

static nvmlReturn_t process_util_of(const GpuConf *g, nvmlProcessUtilizationSample_t *utilization,
                                    unsigned *count, unsigned long long last)
{
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned n = process_samples(g, last, NULL, 0);
    if (n == 0)
        return NVML_ERROR_NOT_FOUND;
    if (!utilization || *count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    *count = process_samples(g, last, utilization, n);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                     nvmlProcessUtilizationSample_t *utilization,
                                                     unsigned int *processSamplesCount,
                                                     unsigned long long lastSeenTimeStamp)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_GPU, &d);
    if (r == NVML_SUCCESS)
        r = process_util_of(d->gpu, utilization, processSamplesCount, lastSeenTimeStamp);
    return leave(r);
}

/* ------------------------------------------------------------------------------------ */
/* Running processes                                                                     */
/* ------------------------------------------------------------------------------------ */

#define MAX_LISTED (MAX_PROCS * (MAX_MIGS + 1))

static int gather_list(const ProcList *l, unsigned kind, unsigned gi, unsigned ci,
                       nvmlProcessInfo_v2_t *out, int n)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i].kinds & kind)
            out[n++] = (nvmlProcessInfo_v2_t){l->v[i].pid, l->v[i].used_bytes, gi, ci};
    return n;
}

/* The processes a handle reports: its own, or every MIG device's on a MIG-enabled parent. */
static int gather(const Dev *d, unsigned kind, nvmlProcessInfo_v2_t *out)
{
    const GpuConf *g = d->gpu;
    int n = 0;
    if (d->is_mig)
        return gather_list(&d->mig->procs, kind, d->mig->gi, d->mig->ci, out, 0);
    if (!g->mig)
        return gather_list(&g->procs, kind, NO_INSTANCE, NO_INSTANCE, out, 0);
    for (int j = 0; j < g->nmigs; j++)
        n = gather_list(&g->migs[j].procs, kind, g->migs[j].gi, g->migs[j].ci, out, n);
    return n;
}

/* Shared body of every running-process function; version 1 has no instance ids. */
static nvmlReturn_t running(const char *sym, nvmlDevice_t device, unsigned kind, unsigned *count, void *infos,
                            int version)
{
    static nvmlProcessInfo_v2_t found[MAX_LISTED]; /* guarded by g_lock */
    Dev *d;
    nvmlReturn_t r = enter_dev(sym, device, AT_ANY, &d);
    if (r == NVML_SUCCESS && !count)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r != NVML_SUCCESS)
        return leave(r);
    unsigned n = (unsigned)gather(d, kind, found);
    if (n && (!infos || *count < n)) {
        *count = n;
        return leave(NVML_ERROR_INSUFFICIENT_SIZE);
    }
    for (unsigned i = 0; i < n; i++) {
        if (version == 1)
            ((nvmlProcessInfo_v1_t *)infos)[i] = (nvmlProcessInfo_v1_t){found[i].pid, found[i].usedGpuMemory};
        else
            ((nvmlProcessInfo_v2_t *)infos)[i] = found[i];
    }
    *count = n;
    return leave(NVML_SUCCESS);
}

nvmlReturn_t DECLDIR nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                          nvmlProcessInfo_v1_t *infos)
{
    return running(__func__, device, KIND_COMPUTE, infoCount, infos, 1);
}

nvmlReturn_t DECLDIR nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                           nvmlProcessInfo_v1_t *infos)
{
    return running(__func__, device, KIND_GRAPHICS, infoCount, infos, 1);
}

#if HAS_R470
nvmlReturn_t DECLDIR nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                             nvmlProcessInfo_v2_t *infos)
{
    return running(__func__, device, KIND_COMPUTE, infoCount, infos, 2);
}

nvmlReturn_t DECLDIR nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                              nvmlProcessInfo_v2_t *infos)
{
    return running(__func__, device, KIND_GRAPHICS, infoCount, infos, 2);
}
#endif

#if HAS_R535
nvmlReturn_t DECLDIR nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                             nvmlProcessInfo_t *infos)
{
    return running(__func__, device, KIND_COMPUTE, infoCount, infos, 3);
}

nvmlReturn_t DECLDIR nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                              nvmlProcessInfo_t *infos)
{
    return running(__func__, device, KIND_GRAPHICS, infoCount, infos, 3);
}
#endif

/* ------------------------------------------------------------------------------------ */
/* MIG                                                                                   */
/* ------------------------------------------------------------------------------------ */

#if HAS_R470
nvmlReturn_t DECLDIR nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                          unsigned int *pendingMode)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS && d->gpu->architecture < NVML_DEVICE_ARCH_AMPERE)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS && (!currentMode || !pendingMode))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *currentMode = *pendingMode = (unsigned)d->gpu->mig;
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS) /* nvml.h: "Returns zero if MIG is not supported or enabled." */
        r = put_uint(count, d->gpu->mig ? STATIC_MIG_COUNT : 0);
    return leave(r);
}

static nvmlReturn_t mig_by_index(const Dev *d, unsigned index, nvmlDevice_t *migDevice)
{
    if (d->gpu->architecture < NVML_DEVICE_ARCH_AMPERE)
        return NVML_ERROR_NOT_SUPPORTED;
    if (!migDevice || index >= STATIC_MIG_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    Dev *m = &g_migs[d->index][index];
    if (!m->present)
        return NVML_ERROR_NOT_FOUND;
    *migDevice = m;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                         nvmlDevice_t *migDevice)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = mig_by_index(d, index, migDevice);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice,
                                                                  nvmlDevice_t *device)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, migDevice, AT_ANY, &d);
    if (r == NVML_SUCCESS && (!d->is_mig || !device))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        *device = d->parent;
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_ANY, &d);
    if (r == NVML_SUCCESS)
        r = put_uint(isMigDevice, (unsigned)d->is_mig);
    return leave(r);
}

static nvmlReturn_t instance_id(const char *sym, nvmlDevice_t device, unsigned *id, int compute)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(sym, device, AT_ANY, &d);
    if (r == NVML_SUCCESS && !d->is_mig)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        r = put_uint(id, compute ? d->mig->ci : d->mig->gi);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return instance_id(__func__, device, id, 0);
}

nvmlReturn_t DECLDIR nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return instance_id(__func__, device, id, 1);
}
#endif

/* ------------------------------------------------------------------------------------ */
/* GPM                                                                                   */
/* ------------------------------------------------------------------------------------ */

#if HAS_R535
#if HAS_NEXT
#define GPM_WHERE AT_ANY /* NVML 13 documents MIG device handles for GPM */
#else
#define GPM_WHERE AT_PHYS
#endif

static const Activity *activity(const Dev *d) { return d->is_mig ? &d->mig->act : &d->gpu->act; }

nvmlReturn_t DECLDIR nvmlGpmQueryDeviceSupport(nvmlDevice_t device, nvmlGpmSupport_t *gpmSupport)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, GPM_WHERE, &d);
    if (r == NVML_SUCCESS && !gpmSupport)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS && gpmSupport->version != NVML_GPM_SUPPORT_VERSION)
        r = NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (r == NVML_SUCCESS)
        gpmSupport->isSupportedDevice = (unsigned)d->gpu->gpm;
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlGpmSampleAlloc(nvmlGpmSample_t *gpmSample)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS && !gpmSample)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        *gpmSample = live_alloc(sizeof **gpmSample);
        if (!*gpmSample)
            r = NVML_ERROR_MEMORY;
    }
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlGpmSampleFree(nvmlGpmSample_t gpmSample)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS && live_find(gpmSample) < 0)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        live_drop(gpmSample);
        free(gpmSample);
    }
    return leave(r);
}

/* Records the last 100 ms counter refresh and the busy time accumulated up to it. */
static void take_sample(struct nvmlGpmSample_st *s, const Dev *d, unsigned gi, const Activity *a)
{
    double x = rel_s(clock_us(CLOCK_REALTIME));
    s->taken = 1;
    s->dev = d;
    s->gi = gi;
    s->act = *a;
    s->x = floor(x / GPM_REFRESH_S) * GPM_REFRESH_S;
    s->busy = busy_upto(a, s->x);
}

nvmlReturn_t DECLDIR nvmlGpmSampleGet(nvmlDevice_t device, nvmlGpmSample_t gpmSample)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, GPM_WHERE, &d);
    if (r == NVML_SUCCESS && !d->gpu->gpm)
        r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS && live_find(gpmSample) < 0)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        take_sample(gpmSample, d, NO_INSTANCE, activity(d));
    return leave(r);
}

static const MigConf *mig_by_gi(const GpuConf *g, unsigned gi)
{
    for (int j = 0; j < g->nmigs; j++)
        if (g->migs[j].gi == gi)
            return &g->migs[j];
    return NULL;
}

nvmlReturn_t DECLDIR nvmlGpmMigSampleGet(nvmlDevice_t device, unsigned int gpuInstanceId,
                                         nvmlGpmSample_t gpmSample)
{
    Dev *d;
    const MigConf *m = NULL;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS && (!d->gpu->gpm || !d->gpu->mig))
        r = NVML_ERROR_NOT_SUPPORTED;
    if (r == NVML_SUCCESS && (!(m = mig_by_gi(d->gpu, gpuInstanceId)) || live_find(gpmSample) < 0))
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        take_sample(gpmSample, d, gpuInstanceId, &m->act);
    return leave(r);
}

static void gpm_metric(nvmlGpmMetric_t *metric, const struct nvmlGpmSample_st *s1,
                       const struct nvmlGpmSample_st *s2)
{
    metric->value = 0;
    metric->metricInfo.shortName = metric->metricInfo.longName = metric->metricInfo.unit = NULL;
    if (metric->metricId != NVML_GPM_METRIC_GRAPHICS_UTIL && metric->metricId != NVML_GPM_METRIC_SM_UTIL) {
        metric->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        return;
    }
    double dt = s2->x - s1->x, f = dt > 0 ? (s2->busy - s1->busy) / dt : 0;
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    metric->nvmlReturn = NVML_SUCCESS;
    /* a sample pair inside one 100 ms refresh has seen no new counters: 0, not an error */
    metric->value = dt > 0 ? f * s2->act.busy_util + (1 - f) * s2->act.idle_util : 0;
    metric->metricInfo.unit = "%";
    metric->metricInfo.shortName = metric->metricId == NVML_GPM_METRIC_SM_UTIL ? "sm_util" : "gr_util";
    metric->metricInfo.longName =
        metric->metricId == NVML_GPM_METRIC_SM_UTIL ? "SM utilization" : "graphics engine utilization";
}

static nvmlReturn_t gpm_metrics(nvmlGpmMetricsGet_t *m)
{
    if (!m)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (m->version != NVML_GPM_METRICS_GET_VERSION)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (m->numMetrics > GPM_METRIC_LIMIT || live_find(m->sample1) < 0 || live_find(m->sample2) < 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    const struct nvmlGpmSample_st *s1 = m->sample1, *s2 = m->sample2;
    if (!s1->taken || !s2->taken || s1->dev != s2->dev || s1->gi != s2->gi)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < m->numMetrics; i++)
        gpm_metric(&m->metrics[i], s1, s2);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlGpmMetricsGet(nvmlGpmMetricsGet_t *metricsGet)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS)
        r = gpm_metrics(metricsGet);
    return leave(r);
}
#endif

/* ------------------------------------------------------------------------------------ */
/* Events                                                                                */
/* ------------------------------------------------------------------------------------ */

nvmlReturn_t DECLDIR nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    Dev *d;
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS)
        r = put_u64(eventTypes, SUPPORTED_EVENTS);
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlEventSetCreate(nvmlEventSet_t *set)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS && !set)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        *set = live_alloc(sizeof **set);
        if (!*set)
            r = NVML_ERROR_MEMORY;
    }
    return leave(r);
}

static nvmlReturn_t add_registration(struct nvmlEventSet_st *s, Dev *d, unsigned long long types)
{
    if (types & ~(unsigned long long)SUPPORTED_EVENTS)
        return NVML_ERROR_NOT_SUPPORTED;
    for (int i = 0; i < s->nregs; i++)
        if (s->regs[i].dev == d) {
            s->regs[i].mask |= types;
            return NVML_SUCCESS;
        }
    if (s->nregs == MAX_GPUS)
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    s->regs[s->nregs++] = (Registration){d, types, 0};
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes,
                                              nvmlEventSet_t set)
{
    Dev *d;
    /* nvml.h: no per-instance event reporting through MIG device handles */
    nvmlReturn_t r = enter_dev(__func__, device, AT_PHYS, &d);
    if (r == NVML_SUCCESS && live_find(set) < 0)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS)
        r = add_registration(set, d, eventTypes);
    return leave(r);
}

/* The registration with a due, undelivered Xid; *next = when the next one becomes due. */
static Registration *due_xid(struct nvmlEventSet_st *s, double *next)
{
    double now = since_epoch();
    *next = INFINITY;
    for (int i = 0; i < s->nregs; i++) {
        Registration *reg = &s->regs[i];
        const GpuConf *g = reg->dev->present ? reg->dev->gpu : NULL;
        if (!g || !g->xid || reg->delivered || !(reg->mask & nvmlEventTypeXidCriticalError))
            continue;
        if (now >= g->xid_after_s)
            return reg;
        *next = fmin(*next, g->xid_after_s);
    }
    return NULL;
}

static void deliver(Registration *reg, nvmlEventData_t *data, int version)
{
    reg->delivered = 1;
    data->device = reg->dev;
    data->eventType = nvmlEventTypeXidCriticalError;
    data->eventData = reg->dev->gpu->xid;
    if (version >= 2) { /* the v1 struct ends after eventData */
        data->gpuInstanceId = NO_INSTANCE;
        data->computeInstanceId = NO_INSTANCE;
    }
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ; /* resume the remaining time after a signal */
}

/* Waits with the lock released, so other threads' calls are not blocked meanwhile. */
static nvmlReturn_t event_wait(nvmlEventSet_t set, nvmlEventData_t *data, unsigned timeoutms, int version)
{
    nvmlReturn_t r = enter();
    double deadline = since_epoch() + timeoutms / 1000.0, next;
    while (r == NVML_SUCCESS) {
        if (live_find(set) < 0 || !data)
            return leave(NVML_ERROR_INVALID_ARGUMENT);
        Registration *reg = due_xid(set, &next);
        if (reg) {
            deliver(reg, data, version);
            return leave(NVML_SUCCESS);
        }
        double now = since_epoch();
        if (now >= deadline)
            return leave(NVML_ERROR_TIMEOUT);
        leave(NVML_SUCCESS);
        sleep_s(fmin(deadline, next) - now);
        r = enter();
    }
    return leave(r);
}

nvmlReturn_t DECLDIR nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return event_wait(set, data, timeoutms, 1);
}

#if HAS_R470
nvmlReturn_t DECLDIR nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return event_wait(set, data, timeoutms, 2);
}
#endif

nvmlReturn_t DECLDIR nvmlEventSetFree(nvmlEventSet_t set)
{
    nvmlReturn_t r = enter();
    if (r == NVML_SUCCESS && live_find(set) < 0)
        r = NVML_ERROR_INVALID_ARGUMENT;
    if (r == NVML_SUCCESS) {
        live_drop(set);
        free(set);
    }
    return leave(r);
}
