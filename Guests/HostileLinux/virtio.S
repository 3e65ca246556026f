/* hostile-linux's virtio-blk attacks (issue 13, "Bad input and integrity"), chosen by the word `virtio`
 * on the command line instead of the board probes; included by hostile.S, whose helpers it uses. The
 * VM needs a disk (a VMM with a block service endpoint): the window is at 0xFEB00000. Each attack sets
 * the device up (reset, ACKNOWLEDGE, DRIVER, VERSION_1 only, FEATURES_OK) and breaks one rule; the line
 * after it gives the device status it then reads (75 = DEVICE_NEEDS_RESET | FEATURES_OK | DRIVER |
 * ACKNOWLEDGE, 79 with DRIVER_OK). Last, a well-formed flush after all the resets must be served.
 * The window is reached through %rbx, every access a 32-bit MOV through a register (as Linux's). Rings
 * at 2 MiB (descriptors), +4 KiB (available), +8 KiB (used), the request at +12 KiB. */

#define DISK        0xFEB00000
#define RINGS       0x200000
#define AVAIL       (RINGS + 0x1000)
#define USED        (RINGS + 0x2000)
#define REQUEST     (RINGS + 0x3000)

.macro VW offset, value
    mov $\value, %eax
    mov %eax, \offset(%rbx)
.endm

/* "<message>: status N" with the device status */
.macro VSTEP message
    lea \message(%rip), %rdi
    mov 0x70(%rbx), %eax
    call vputs_dec
    mov $'\n', %al
    call putc
.endm

/* the string at rdi, then eax in decimal */
vputs_dec:
    push %rax
    call puts
    pop %rax
    jmp putdec

/* reset, then ACKNOWLEDGE | DRIVER, VERSION_1 only, FEATURES_OK */
vnegotiate:
    VW 0x70, 0
    VW 0x70, 1
    VW 0x70, 3
    VW 0x24, 1
    VW 0x20, 1
    VW 0x24, 0
    VW 0x20, 0
    VW 0x70, 11
    ret

/* queue 0 of size eax with its descriptor table at edx, then QueueReady */
vqueue:
    mov %eax, %ecx                  /* VW uses eax */
    VW 0x30, 0
    mov %ecx, 0x38(%rbx)
    mov %edx, 0x80(%rbx)
    VW 0x84, 0
    VW 0x90, AVAIL
    VW 0x94, 0
    VW 0xA0, USED
    VW 0xA4, 0
    VW 0x44, 1
    ret

/* a well-set-up queue of 8 and DRIVER_OK; the rings' indexes cleared */
vgood:
    call vnegotiate
    movw $0, AVAIL + 2
    movw $0, USED + 2
    mov $8, %eax
    mov $RINGS, %edx
    call vqueue
    VW 0x70, 15
    ret

/* chain 0 made available (ring entry 0, index 1), then QueueNotify */
vpost0:
    movw $0, AVAIL + 4
    movw $1, AVAIL + 2
    VW 0x50, 0
    ret

virtio_attack:
    lea m_vstart(%rip), %rdi
    call puts
    mov $DISK, %ebx

    /* a queue size that is no power of two */
    call vnegotiate
    mov $3, %eax
    mov $RINGS, %edx
    call vqueue
    VSTEP m_vsize

    /* rings outside guest RAM */
    call vnegotiate
    mov $8, %eax
    mov $0x7FFF0000, %edx
    call vqueue
    VSTEP m_vrings

    /* a descriptor loop: 0 -> 0 */
    call vgood
    movq $REQUEST, RINGS
    movl $16, RINGS + 8
    movw $1, RINGS + 12
    movw $0, RINGS + 14
    call vpost0
    VSTEP m_vloop

    /* a buffer outside guest RAM */
    call vgood
    movq $0x7FFF0000, RINGS
    movl $16, RINGS + 8
    movw $0, RINGS + 12
    call vpost0
    VSTEP m_voutside

    /* a length of 4 GiB - 1 */
    call vgood
    movq $REQUEST, RINGS
    movl $0xFFFFFFFF, RINGS + 8
    movw $0, RINGS + 12
    call vpost0
    VSTEP m_vlength

    /* the available index 100 ahead of a queue of 8 */
    call vgood
    movw $100, AVAIL + 2
    VW 0x50, 0
    VSTEP m_vindex

    /* a head descriptor index past the table */
    call vgood
    movw $200, AVAIL + 4
    movw $1, AVAIL + 2
    VW 0x50, 0
    VSTEP m_vhead

    /* a flush, well formed: header (type 4), status byte (0xFF until the device answers) */
    call vgood
    movl $4, REQUEST
    movl $0, REQUEST + 4
    movq $0, REQUEST + 8
    movb $0xFF, REQUEST + 0x100
    movq $REQUEST, RINGS
    movl $16, RINGS + 8
    movw $1, RINGS + 12
    movw $1, RINGS + 14
    movq $(REQUEST + 0x100), RINGS + 16
    movl $1, RINGS + 24
    movw $2, RINGS + 28
    movw $0, RINGS + 30
    call vpost0
    lea m_vflush(%rip), %rdi
    movzwl USED + 2, %eax
    call vputs_dec
    lea m_vrequest(%rip), %rdi
    movzbl REQUEST + 0x100, %eax
    call vputs_dec
    lea m_vdevice(%rip), %rdi
    mov 0x70(%rbx), %eax
    call vputs_dec
    mov $'\n', %al
    call putc
    VW 0x70, 0
    lea m_vdone(%rip), %rdi
    call puts
    jmp power_off

m_vstart:     .asciz "hostile-linux: virtio: attacking the disk's queue\n"
m_vsize:      .asciz "hostile-linux: virtio queue size 3: status "
m_vrings:     .asciz "hostile-linux: virtio rings outside RAM: status "
m_vloop:      .asciz "hostile-linux: virtio descriptor loop: status "
m_voutside:   .asciz "hostile-linux: virtio buffer outside RAM: status "
m_vlength:    .asciz "hostile-linux: virtio length 0xffffffff: status "
m_vindex:     .asciz "hostile-linux: virtio available index 100 ahead: status "
m_vhead:      .asciz "hostile-linux: virtio head index 200: status "
m_vflush:     .asciz "hostile-linux: virtio flush after the resets: used index "
m_vrequest:   .asciz ", request status "
m_vdevice:    .asciz ", device status "
m_vdone:      .asciz "hostile-linux: virtio attacks done\n"
w_virtio:     .asciz "virtio"
