// scheduler.cpp: runs a grid on the CPU. Blocks are spread over OS threads (OpenMP); inside a
// block every CUDA thread is a fiber on a stack of its own, switched by the few instructions of
// fsr_emu_switch_stack below (ucontext makes a system call per switch, about 10x slower, and one
// OS thread per CUDA thread is about 270x slower).
//
// A fiber runs until it reaches __syncthreads, a warp operation, or its end, then hands over to
// the next runnable fiber. A barrier releases once every live thread of the block waits at the same call
// site; a warp operation completes once every live lane of the warp has arrived, and then the
// scheduler computes what each lane receives. When nothing can run and nothing can be released,
// the block is divergent or deadlocked, and the launch fails with the call sites involved,
// instead of hanging as a GPU would.
//
// Shared memory: static __shared__ variables are thread-local statics in the section
// fsr_shared (cuda_emu.h), and dynamic shared memory is a per-OS-thread buffer; both are filled
// with 0xFF bytes (NaN) before each block, so reading shared memory before writing it shows.
#include "runtime.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <omp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

// ---------------------------------------------------------------------------------------------
// Stack switch (x86-64 System V). Saves the callee-saved registers, MXCSR and the x87 control
// word on the current stack, stores the stack pointer in *save, and resumes the stack `resume`.
// A new fiber's stack is prepared to look like a suspended switch whose return address is
// fsr_emu_fiber_start, which calls r13(r12).

extern "C" void fsr_emu_switch_stack(void** save, void* resume);
extern "C" void fsr_emu_fiber_start();

__asm__(
    ".text\n"
    ".globl fsr_emu_switch_stack\n"
    ".hidden fsr_emu_switch_stack\n"
    ".type fsr_emu_switch_stack,@function\n"
    "fsr_emu_switch_stack:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size fsr_emu_switch_stack, .-fsr_emu_switch_stack\n"
    ".globl fsr_emu_fiber_start\n"
    ".hidden fsr_emu_fiber_start\n"
    ".type fsr_emu_fiber_start,@function\n"
    "fsr_emu_fiber_start:\n"
    "  movq %r12, %rdi\n"
    "  callq *%r13\n"
    "  ud2\n"
    ".size fsr_emu_fiber_start, .-fsr_emu_fiber_start\n");

// The built-in variables of cuda_emu.h.
__thread uint3 threadIdx;
__thread uint3 blockIdx;
__thread dim3 blockDim;
__thread dim3 gridDim;

namespace fsr_emu {
namespace {

// 64 KiB as measured sufficient for the kernels; FSR_EMU_STACK_KB raises it for deep ones.
size_t fiber_stack_bytes() {
    static const size_t bytes = [] {
        const char* kb = std::getenv("FSR_EMU_STACK_KB");
        size_t value = kb ? std::strtoul(kb, nullptr, 10) * 1024 : 0;
        return value >= 16 * 1024 ? value : size_t{64 * 1024};
    }();
    return bytes;
}

// One mmap'ed stack with a guard page below it, so an overflow faults instead of corrupting a
// neighbour.
struct FiberStack {
    char* mapping = nullptr;
    size_t mapping_bytes = 0;
    FiberStack() {
        size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        mapping_bytes = fiber_stack_bytes() + page;
        void* p = mmap(nullptr, mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (p == MAP_FAILED) { std::perror("fsr_cuda_emu: mmap of a fiber stack"); std::abort(); }
        mapping = static_cast<char*>(p);
        mprotect(mapping, page, PROT_NONE);
    }
    FiberStack(const FiberStack&) = delete;
    FiberStack& operator=(const FiberStack&) = delete;
    ~FiberStack() { munmap(mapping, mapping_bytes); }
    char* top() const { return mapping + mapping_bytes; }
};

enum class ThreadState : uint8_t { Runnable, AtBarrier, AtWarpOp, Exited };

struct Thread {
    void* stack_pointer;
    uint3 index;
    ThreadState state;
    const char* file;  // where it parked
    int line;
    WarpOp op;
    int lane_arg;
    int width;
    unsigned mask;
    uint64_t payload;
    uint64_t result;
    const char* instruction;   // a warp matrix instruction's name and twin
    WarpMatrixCompute matrix;
};

// One block in flight on this OS thread.
struct BlockRun {
    const KernelInfo* kernel;
    void* const* params;
    Thread* current;
    void* scheduler_stack_pointer;
    std::vector<Thread> threads;
    std::vector<int> warp_live;     // live lanes per warp
    std::vector<int> warp_arrived;  // lanes parked at a warp operation, per warp
    int live;
    int runnable;
    int at_barrier;
    int pass_position;  // how far the current pass over the threads has come
    bool reverse_order;
    std::string error;
};

// Per OS thread: the block it runs, its fiber stacks, its dynamic shared memory.
__thread BlockRun* t_block;
__thread unsigned char* t_dynamic_shared;
__thread uint32_t t_dynamic_shared_bytes;
thread_local std::vector<std::unique_ptr<FiberStack>> t_stacks;
thread_local std::vector<unsigned char> t_dynamic_shared_storage;

void park(BlockRun& block, Thread& self);

[[noreturn]] void thread_main(void* argument) {
    Thread* self = static_cast<Thread*>(argument);
    BlockRun* block = t_block;
    block->kernel->invoke(block->kernel->function, block->params);
    self->state = ThreadState::Exited;
    park(*block, *self);
    __builtin_unreachable();  // an exited fiber is never resumed
}

void* prepare_stack(char* top, Thread* thread) {
    uint16_t x87_control;
    __asm__ volatile("fnstcw %0" : "=m"(x87_control));
    uint32_t control[2] = {__builtin_ia32_stmxcsr(), x87_control};
    // Aligned so that the `call` in fsr_emu_fiber_start happens on a 16-byte boundary.
    uint64_t* frame = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(top) & ~uintptr_t{15}) - 10;
    std::memcpy(&frame[0], control, 8);
    frame[1] = 0;                                            // r15
    frame[2] = 0;                                            // r14
    frame[3] = reinterpret_cast<uint64_t>(&thread_main);     // r13
    frame[4] = reinterpret_cast<uint64_t>(thread);           // r12
    frame[5] = 0;                                            // rbx
    frame[6] = 0;                                            // rbp
    frame[7] = reinterpret_cast<uint64_t>(&fsr_emu_fiber_start);
    return frame;
}

// ---- static __shared__: the section fsr_shared of this library's TLS block, on this OS thread

extern "C" char __start_fsr_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_fsr_shared[] __attribute__((weak, visibility("hidden")));

struct SharedSection {
    ptrdiff_t offset_in_tls_block = 0;  // of the section start
    size_t bytes = 0;
    void* module = nullptr;             // for dlinfo(RTLD_DI_TLS_DATA)
    // A __shared__ declared in a template or inline function is a COMDAT variable, which GCC puts in
    // a .tbss section of its own whatever its section attribute says: every function-local static
    // thread_local of this library, by its offset in the TLS block and size (from the symbol table).
    std::vector<std::pair<size_t, size_t>> locals;
};

// Function-local TLS statics (mangled "_ZZ...") of the library file at `path`, from its .symtab; for
// a TLS symbol of a shared object, st_value is its offset in the module's TLS block. Empty when the
// file has no symbol table (stripped): those arrays are then neither poisoned nor known as shared.
std::vector<std::pair<size_t, size_t>> local_tls_statics(const char* path) {
    std::vector<std::pair<size_t, size_t>> found;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return found;
    struct stat st;
    void* map = fstat(fd, &st) == 0 ? mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return found;
    const auto* bytes = static_cast<const unsigned char*>(map);
    const auto* header = reinterpret_cast<const ElfW(Ehdr)*>(bytes);
    const auto* sections = reinterpret_cast<const ElfW(Shdr)*>(bytes + header->e_shoff);
    for (int i = 0; i < header->e_shnum; i++) {
        if (sections[i].sh_type != SHT_SYMTAB) continue;
        const auto* symbols = reinterpret_cast<const ElfW(Sym)*>(bytes + sections[i].sh_offset);
        const char* names = reinterpret_cast<const char*>(bytes + sections[sections[i].sh_link].sh_offset);
        size_t count = sections[i].sh_size / sizeof(ElfW(Sym));
        for (size_t k = 0; k < count; k++)
            if (ELF64_ST_TYPE(symbols[k].st_info) == STT_TLS && symbols[k].st_size > 0 && std::strncmp(names + symbols[k].st_name, "_ZZ", 3) == 0)
                found.emplace_back(symbols[k].st_value, symbols[k].st_size);
    }
    munmap(map, static_cast<size_t>(st.st_size));
    return found;
}

int find_tls_segment(dl_phdr_info* info, size_t, void* data) {
    auto* section = static_cast<SharedSection*>(data);
    uintptr_t start = reinterpret_cast<uintptr_t>(__start_fsr_shared);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr)& header = info->dlpi_phdr[i];
        uintptr_t segment = info->dlpi_addr + header.p_vaddr;
        if (header.p_type == PT_TLS && start >= segment && start < segment + header.p_memsz) {
            section->offset_in_tls_block = static_cast<ptrdiff_t>(start - segment);
            return 1;
        }
    }
    return 0;
}

const SharedSection& shared_section() {
    static const SharedSection section = [] {
        SharedSection s;
        uintptr_t start = reinterpret_cast<uintptr_t>(__start_fsr_shared), stop = reinterpret_cast<uintptr_t>(__stop_fsr_shared);
        if (start == 0 || stop <= start) return s;
        if (!dl_iterate_phdr(find_tls_segment, &s)) return s;
        Dl_info self;
        if (!dladdr(reinterpret_cast<void*>(&find_tls_segment), &self)) return s;
        s.module = dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (s.module) {
            s.bytes = stop - start;
            s.locals = local_tls_statics(self.dli_fname);
        }
        return s;
    }();
    return section;
}

// This OS thread's TLS block of the library and its copy of the section (the block exists:
// threadIdx has been written).
__thread unsigned char* t_tls_block;
__thread unsigned char* t_static_shared;

void poison_static_shared() {
    const SharedSection& section = shared_section();
    if (section.bytes == 0) return;
    if (!t_static_shared) {
        void* tls_block = nullptr;
        if (dlinfo(section.module, RTLD_DI_TLS_DATA, &tls_block) != 0 || !tls_block) {
            std::fprintf(stderr, "fsr_cuda_emu: no TLS block for the static shared memory section\n");
            std::abort();
        }
        t_tls_block = static_cast<unsigned char*>(tls_block);
        t_static_shared = t_tls_block + section.offset_in_tls_block;
    }
    std::memset(t_static_shared, 0xFF, section.bytes);
    for (const auto& [offset, bytes] : section.locals) std::memset(t_tls_block + offset, 0xFF, bytes);
}

// ---- diagnostics

const char* op_name(WarpOp op) {
    switch (op) {
        case WarpOp::Sync: return "__syncwarp";
        case WarpOp::ShuffleIndex: return "__shfl_sync";
        case WarpOp::ShuffleXor: return "__shfl_xor_sync";
        case WarpOp::ShuffleDown: return "__shfl_down_sync";
        case WarpOp::ShuffleUp: return "__shfl_up_sync";
        case WarpOp::Ballot: return "__ballot_sync";
        case WarpOp::All: return "__all_sync";
        case WarpOp::Any: return "__any_sync";
        case WarpOp::Matrix: return "a warp matrix instruction";
    }
    return "warp operation";
}

// "128 threads at __syncthreads (a.cu:30), 128 threads at __syncthreads (a.cu:31), 3 exited":
// where the block's threads are when it can make no progress.
std::string describe_waiting(const BlockRun& block, const std::vector<int>* only) {
    std::map<std::string, int> sites;
    int exited = 0;
    auto count = [&](const Thread& t) {
        if (t.state == ThreadState::Exited) { exited++; return; }
        std::string site = t.state == ThreadState::AtBarrier ? "__syncthreads" : t.op == WarpOp::Matrix ? t.instruction : op_name(t.op);
        site += " (" + std::string(base_name(t.file)) + ":" + std::to_string(t.line) + ")";
        sites[site]++;
    };
    if (only) for (int i : *only) count(block.threads[i]);
    else for (const Thread& t : block.threads) count(t);
    std::string text;
    for (const auto& [site, n] : sites) {
        if (!text.empty()) text += ", ";
        text += std::to_string(n) + (n == 1 ? " thread at " : " threads at ") + site;
    }
    if (exited) text += (text.empty() ? "" : ", ") + std::to_string(exited) + " exited";
    return text;
}

// ---- warp operations

void complete_warp_if_ready(BlockRun& block, int warp) {
    if (block.warp_live[warp] == 0 || block.warp_arrived[warp] != block.warp_live[warp]) return;
    int first = warp * warpSize;
    int end = std::min<int>(first + warpSize, static_cast<int>(block.threads.size()));
    Thread* lanes = &block.threads[first];
    int count = end - first;
    const Thread* leader = nullptr;
    unsigned live_mask = 0;
    for (int lane = 0; lane < count; lane++) {
        if (lanes[lane].state != ThreadState::AtWarpOp) continue;
        live_mask |= 1u << lane;
        if (!leader) leader = &lanes[lane];
        else if (lanes[lane].op != leader->op) {
            std::vector<int> members;
            for (int i = first; i < end; i++) members.push_back(i);
            block.error = "warp " + std::to_string(warp) + " diverged between different warp operations: " +
                          describe_waiting(block, &members);
            return;
        }
    }
    for (int lane = 0; lane < count; lane++)
        if ((live_mask >> lane & 1) && !(lanes[lane].mask >> lane & 1)) {
            block.error = std::string(op_name(lanes[lane].op)) + " at " + base_name(lanes[lane].file) + ":" +
                          std::to_string(lanes[lane].line) + ": lane " + std::to_string(lane) + " of warp " +
                          std::to_string(warp) + " is not in its own mask";
            return;
        }
    if (leader->op == WarpOp::Matrix) {
        // The instruction reads every lane's registers: the whole warp must be there, at the same one.
        std::string site = std::string(leader->instruction) + " at " + base_name(leader->file) + ":" + std::to_string(leader->line);
        if (count < warpSize || live_mask != 0xffffffffu) {
            block.error = site + ": warp " + std::to_string(warp) + " has " + std::to_string(__builtin_popcount(live_mask)) +
                          " of its 32 lanes there (the others exited, or the block's last warp is partial)";
            return;
        }
        void* data[warpSize];
        for (int lane = 0; lane < warpSize; lane++) {
            if (lanes[lane].matrix != leader->matrix) {
                std::vector<int> members;
                for (int i = first; i < end; i++) members.push_back(i);
                block.error = "warp " + std::to_string(warp) + " diverged between different matrix instructions: " + describe_waiting(block, &members);
                return;
            }
            data[lane] = reinterpret_cast<void*>(lanes[lane].payload);
        }
        if (const char* error = leader->matrix(data)) {
            block.error = site + ": " + error;
            return;
        }
        for (int lane = 0; lane < warpSize; lane++) lanes[lane].state = ThreadState::Runnable;
        block.runnable += warpSize;
        block.warp_arrived[warp] = 0;
        return;
    }
    unsigned votes = 0;
    for (int lane = 0; lane < count; lane++)
        if ((live_mask >> lane & 1) && lanes[lane].payload) votes |= 1u << lane;
    for (int lane = 0; lane < count; lane++) {
        Thread& t = lanes[lane];
        if (t.state != ThreadState::AtWarpOp) continue;
        int width = t.width > 0 && t.width <= warpSize ? t.width : warpSize;
        int segment = lane & ~(width - 1);
        int source = lane;
        switch (t.op) {
            case WarpOp::ShuffleIndex: source = segment + (t.lane_arg & (width - 1)); break;
            case WarpOp::ShuffleXor: source = lane ^ t.lane_arg; break;
            case WarpOp::ShuffleDown: source = lane + t.lane_arg; break;
            case WarpOp::ShuffleUp: source = lane - t.lane_arg; break;
            default: break;
        }
        // Outside the lane's segment the lane keeps its own value (CUDA's rule). A source inside it
        // that has exited or does not exist (a partial last warp) gives an undefined value on a
        // GPU, so here it gives all-ones bits: NaN as a float, -1 as an integer.
        bool in_segment = source >= segment && source < segment + width;
        bool present = in_segment && source < count && (live_mask >> source & 1);
        switch (t.op) {
            case WarpOp::Ballot: t.result = votes & t.mask; break;
            case WarpOp::All: t.result = (votes & t.mask & live_mask) == (t.mask & live_mask); break;
            case WarpOp::Any: t.result = (votes & t.mask) != 0; break;
            default: t.result = !in_segment ? t.payload : present ? lanes[source].payload : ~uint64_t{0}; break;
        }
        t.state = ThreadState::Runnable;
        block.runnable++;
    }
    block.warp_arrived[warp] = 0;
}

// ---- one block
//
// The block runs in passes over its threads (first to last, or last to first). A thread that
// parks does the scheduler's bookkeeping itself and switches straight to the next runnable
// thread of the pass: one stack switch per park instead of two through the scheduler, which
// only regains control at the end of a pass to release barriers or report a stuck block.

Thread* next_in_pass(BlockRun& block) {
    const int n = static_cast<int>(block.threads.size());
    while (block.pass_position < n) {
        int k = block.pass_position++;
        Thread& thread = block.threads[block.reverse_order ? n - 1 - k : k];
        if (thread.state == ThreadState::Runnable) {
            block.runnable--;
            block.current = &thread;
            threadIdx = thread.index;
            return &thread;
        }
    }
    return nullptr;
}

void park(BlockRun& block, Thread& self) {
    int warp = static_cast<int>(&self - block.threads.data()) / warpSize;
    if (self.state == ThreadState::Exited) {
        block.live--;
        block.warp_live[warp]--;
    }
    if (self.state != ThreadState::AtBarrier) complete_warp_if_ready(block, warp);
    Thread* next = block.error.empty() ? next_in_pass(block) : nullptr;
    fsr_emu_switch_stack(&self.stack_pointer, next ? next->stack_pointer : block.scheduler_stack_pointer);
}

std::string run_block(BlockRun& block) {
    const int n = static_cast<int>(block.threads.size());
    for (;;) {
        block.pass_position = 0;
        if (Thread* first = next_in_pass(block)) fsr_emu_switch_stack(&block.scheduler_stack_pointer, first->stack_pointer);
        if (!block.error.empty()) return block.error;
        if (block.live == 0) return "";
        if (block.runnable > 0) continue;
        if (block.at_barrier == block.live && block.live == n) {
            const Thread& first = block.threads[0];
            bool one_site = std::all_of(block.threads.begin(), block.threads.end(), [&](const Thread& t) {
                return t.line == first.line && t.file == first.file;
            });
            if (one_site) {
                for (Thread& t : block.threads) t.state = ThreadState::Runnable;
                block.runnable = n;
                block.at_barrier = 0;
                continue;
            }
            return "divergent __syncthreads: " + describe_waiting(block, nullptr);
        }
        if (block.at_barrier == block.live)
            return "divergent __syncthreads (threads exited while others wait): " + describe_waiting(block, nullptr);
        return "deadlock: " + describe_waiting(block, nullptr);
    }
}

}  // namespace

// ---- hooks called from kernels (cuda_emu.h)

void* dynamic_shared_memory() { return t_dynamic_shared; }

void sync_threads(const char* file, int line) {
    BlockRun* block = t_block;
    Thread* self = block->current;
    self->state = ThreadState::AtBarrier;
    self->file = file;
    self->line = line;
    block->at_barrier++;
    park(*block, *self);
}

uint64_t warp_op(const char* file, int line, WarpOp op, unsigned mask, uint64_t payload, int lane_arg, int width) {
    BlockRun* block = t_block;
    Thread* self = block->current;
    self->state = ThreadState::AtWarpOp;
    self->file = file;
    self->line = line;
    self->op = op;
    self->mask = mask;
    self->payload = payload;
    self->lane_arg = lane_arg;
    self->width = width;
    block->warp_arrived[(self - block->threads.data()) / warpSize]++;
    park(*block, *self);
    return self->result;
}

void warp_matrix(const char* file, int line, const char* instruction, WarpMatrixCompute compute, void* lane_data) {
    BlockRun* block = t_block;
    Thread* self = block->current;
    self->state = ThreadState::AtWarpOp;
    self->file = file;
    self->line = line;
    self->op = WarpOp::Matrix;
    self->mask = 0xffffffffu;
    self->payload = reinterpret_cast<uint64_t>(lane_data);
    self->instruction = instruction;
    self->matrix = compute;
    block->warp_arrived[(self - block->threads.data()) / warpSize]++;
    park(*block, *self);
}

bool in_shared_memory(const void* address, size_t bytes) {
    auto inside = [&](const unsigned char* start, size_t length) {
        auto a = static_cast<const unsigned char*>(address);
        return start && a >= start && a + bytes <= start + length;
    };
    if (inside(t_static_shared, shared_section().bytes) || inside(t_dynamic_shared, t_dynamic_shared_bytes)) return true;
    for (const auto& [offset, length] : shared_section().locals)
        if (t_tls_block && inside(t_tls_block + offset, length)) return true;
    return false;
}

void trap(const char* file, int line) {
    BlockRun* block = t_block;
    Thread* self = block->current;
    block->error = std::string("__trap() at ") + base_name(file) + ":" + std::to_string(line);
    self->state = ThreadState::Exited;
    park(*block, *self);
    __builtin_unreachable();
}

const char* base_name(const char* path) {
    const char* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

std::string run_grid(const KernelInfo* kernel, void* const* params, dim3 grid, dim3 block_dim, uint32_t shared_bytes,
                     const LaunchOptions& options) {
    const int64_t blocks = int64_t{grid.x} * grid.y * grid.z;
    const int threads = static_cast<int>(block_dim.x * block_dim.y * block_dim.z);
    const int warps = (threads + warpSize - 1) / warpSize;
    std::atomic<bool> failed{false};
    std::string first_error;
    std::mutex error_mutex;
    int workers = options.workers > 0 ? options.workers : omp_get_max_threads();
    workers = static_cast<int>(std::min<int64_t>(workers, blocks));

#pragma omp parallel num_threads(workers)
    {
        while (static_cast<int>(t_stacks.size()) < threads) t_stacks.push_back(std::make_unique<FiberStack>());
        if (t_dynamic_shared_storage.size() < shared_bytes + 16) t_dynamic_shared_storage.resize(shared_bytes + 16);
        t_dynamic_shared = reinterpret_cast<unsigned char*>(
            (reinterpret_cast<uintptr_t>(t_dynamic_shared_storage.data()) + 15) & ~uintptr_t{15});
        t_dynamic_shared_bytes = shared_bytes;
        BlockRun block;
        block.kernel = kernel;
        block.params = params;
        block.reverse_order = options.reverse_order;
        block.threads.resize(threads);
        block.warp_live.resize(warps);
        block.warp_arrived.resize(warps);
        t_block = &block;
        blockDim = block_dim;
        gridDim = grid;

#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < blocks; b++) {
            if (failed.load(std::memory_order_relaxed)) continue;
            blockIdx = {static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                        static_cast<unsigned>(b / (int64_t{grid.x} * grid.y))};
            for (int i = 0; i < threads; i++) {
                Thread& t = block.threads[i];
                t.index = {i % block_dim.x, i / block_dim.x % block_dim.y, i / (block_dim.x * block_dim.y)};
                t.state = ThreadState::Runnable;
                // Stack tops staggered by cache lines: equal offsets modulo 4 KiB would all compete
                // for one L1 set on every switch.
                t.stack_pointer = prepare_stack(t_stacks[i]->top() - (i % 64) * 64, &t);
            }
            for (int w = 0; w < warps; w++) {
                block.warp_live[w] = std::min(warpSize, threads - w * warpSize);
                block.warp_arrived[w] = 0;
            }
            block.live = block.runnable = threads;
            block.at_barrier = 0;
            block.error.clear();
            poison_static_shared();
            std::memset(t_dynamic_shared, 0xFF, shared_bytes);

            std::string error = run_block(block);
            if (!error.empty()) {
                std::lock_guard<std::mutex> lock(error_mutex);
                if (!failed.exchange(true))
                    first_error = std::string(kernel->name) + " block (" + std::to_string(blockIdx.x) + "," +
                                  std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) + "): " + error;
            }
        }
        t_block = nullptr;
    }
    return first_error;
}

}  // namespace fsr_emu
