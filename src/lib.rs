//! wafer-wasm: a WeChat mini-program client for Wafer sessions and tunnels.
//!
//! `sansio` is a pure, sans-IO state machine (no wasm-bindgen types, tested natively);
//! `runtime` drives it inside WebAssembly with timers, promises and the JS platform.

pub mod sansio;

#[cfg(target_arch = "wasm32")]
mod runtime;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod layers;

/// A coalescing free-list allocator: about 5 KB smaller in the wasm than the default
/// dlmalloc, and the SDK's heap is small and single-threaded.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without the atomics feature has a single thread.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
