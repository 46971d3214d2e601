/* krsie-bench-true: the smallest static x86-64 program that exits 0 (no libc, no startup code):
 * what the exec benchmarks run, so that execve() itself dominates the measured cost. */
void _start(void) __attribute__((noreturn));
void _start(void) {
  __asm__ volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall" ::: "rax", "rdi", "memory");
  __builtin_unreachable();
}
