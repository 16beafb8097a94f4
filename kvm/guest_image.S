/* guest_image.S: embeds the flat guest binary (kvm/guest/guest.c linked by
 * kvm/guest/guest.ld, built by CMakeLists.txt) in vcpusim as kvm_guest_image. */
	.section .rodata
	.balign 64
	.globl kvm_guest_image
	.globl kvm_guest_image_end
kvm_guest_image:
	.incbin KVM_GUEST_BIN
kvm_guest_image_end:
	.section .note.GNU-stack,"",@progbits
