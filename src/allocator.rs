//! The process's allocator: mimalloc, called the way the C library's `malloc` is. The
//! `mimalloc` crate's wrapper passes every allocation through `mi_malloc_aligned`, whose
//! alignment checks cost the sidecar ~20 instructions per allocation (it makes about 45 per
//! request with reports on); an alignment `mi_malloc` already guarantees goes straight to
//! it here, as Rust's own `System` allocator does with glibc's `malloc`.
//!
//! Built without its transparent-huge-page advice (`no_thp`): with it, every 2 MiB of arena
//! the sidecar touched became resident, 6 of its 16 MB at idle.

// The one place in the workspace that needs `unsafe`: a `GlobalAlloc` is an unsafe trait.
#![allow(unsafe_code)]

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment of every `mi_malloc` block: its size classes are multiples of 8 bytes (a
/// 24-byte class keeps only 8, so 16 is not assured for every size).
const MALLOC_ALIGN: usize = 8;

/// mimalloc, as `#[global_allocator]` of both binaries.
#[derive(Debug)]
pub struct Mimalloc;

/// Whether `mi_malloc` alone gives alignment `align`.
#[inline(always)]
fn plain(align: usize) -> bool {
    align <= MALLOC_ALIGN
}

// SAFETY: every block comes from mimalloc with at least the layout's size and alignment, and
// goes back to it through `mi_free` / `mi_realloc*`, which accept blocks from any of its
// allocation functions.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align()) {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align()) {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(layout.align()) {
            mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_asked_for() {
        let a = Mimalloc;
        for size in [1usize, 3, 8, 12, 16, 24, 40, 100, 4096, 70_000] {
            for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: a non-zero size; each block is written, checked and freed once
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size}, align {align}");
                    p.write_bytes(0xa5, size);
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed: size {size}, align {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    let r = a.realloc(p, layout, size * 3);
                    assert_eq!(r as usize % align, 0, "grown: size {size}, align {align}");
                    assert!(std::slice::from_raw_parts(r, size)
                        .iter()
                        .all(|&b| b == 0xa5));
                    a.dealloc(r, Layout::from_size_align(size * 3, align).expect("layout"));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
