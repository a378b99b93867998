package disk_test

import (
	"context"
	"fmt"
	"log"

	"github.com/initkit/initkit/disk"
	"github.com/initkit/initkit/probe"
)

// A GPT disk with an ext4 root from a tree, made without root, then
// listed as blkid would see it.
func ExampleCreate() {
	s := &disk.Spec{Output: "disk.img", Size: "1G", Partitions: []disk.Partition{
		{Name: "boot", Size: "64M", Fill: disk.Fill{FS: "vfat", Label: "ESP", Tree: "bootfs"}},
		{Name: "root", Fill: disk.Fill{FS: "ext4", Tree: "rootfs"}},
	}}
	if err := disk.Create(context.Background(), s, disk.Options{}); err != nil {
		log.Fatal(err)
	}
	l, err := probe.List("disk.img")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range l.Partitions {
		fmt.Println(p.Number, p.PartLabel, p.PartUUID, p.Type, p.UUID)
	}
}

// The files of a disk's root partition, listed and copied out without
// root or a VM: what a run left in /var/log.
func ExampleReadDir() {
	ctx := context.Background()
	files, err := disk.ReadDir(ctx, "disk.img", "root", "/var/log")
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range files {
		fmt.Println(f.Type, f.Size, f.Name)
	}
	if err := disk.CopyOut(ctx, "disk.img", "root", []string{"/var/log"}, "logs"); err != nil {
		log.Fatal(err)
	}
}
