/*
 * ferret's bundled packer rules. They name the packer; the static analyser adds
 * structural signs (entropy, missing section headers, entry outside code) beside them.
 */

import "math"

rule ferret_upx_packed_elf : packer
{
    meta:
        description = "ELF packed with UPX: the UPX! marker of its loader header together with the UPX banner or UPX section names"
        author = "ferret"
        packer = "UPX"
        severity = "low"
        attack = "T1027.002"
    strings:
        $magic = "UPX!"
        $banner = "This file is packed with the UPX executable packer" ascii
        $info = "$Id: UPX" ascii
        $sect0 = "UPX0" ascii
        $sect1 = "UPX1" ascii
    condition:
        uint32(0) == 0x464c457f and $magic in (0..1024) and ($banner or $info or any of ($sect*) or #magic >= 2)
}

rule ferret_upx_modified_magic_elf : packer
{
    meta:
        description = "ELF with a UPX loader whose UPX! markers were overwritten to defeat `upx -d` (a Mirai-family habit)"
        author = "ferret"
        packer = "UPX (modified)"
        severity = "medium"
        attack = "T1027.002"
    strings:
        $banner = "This file is packed with the UPX executable packer" ascii
        $id = "$Id: UPX" ascii
        $magic = "UPX!"
    condition:
        uint32(0) == 0x464c457f and ($banner or $id) and not $magic
}

rule ferret_elf_no_section_headers_high_entropy : packer
{
    meta:
        description = "ELF executable without section headers whose bytes are near-random: a packed or encrypted payload"
        author = "ferret"
        severity = "low"
        attack = "T1027.002"
    condition:
        uint32(0) == 0x464c457f
        // e_shnum is 0: at 0x30 in ELF32, 0x3c in ELF64, in the file's own byte order.
        and (
            (uint8(4) == 1 and uint8(5) == 1 and uint16(0x30) == 0) or
            (uint8(4) == 1 and uint8(5) == 2 and uint16be(0x30) == 0) or
            (uint8(4) == 2 and uint8(5) == 1 and uint16(0x3c) == 0) or
            (uint8(4) == 2 and uint8(5) == 2 and uint16be(0x3c) == 0)
        )
        and filesize > 4096
        and math.entropy(0, filesize) >= 7.2
}
