#!/usr/bin/env bash
# Rebuilds the sysroot fixture from src/ (gcc, binutils). Committed output;
# run by hand after changing a source: cd elfdeps/testdata && ./build.sh
#
# sysroot/
#   lib -> usr/lib                       usrmerge link
#   lib64/ld-linux-x86-64.so.2 -> ../usr/lib/ld-stub.so
#   usr/lib/libc.so.6                    stub with soname libc.so.6
#   usr/lib/libfoo.so.1 -> libfoo.so.1.0
#   usr/bin/app            needs libfoo.so.1, libextra.so.1 (via ld.so.conf include)
#   usr/bin/app-script     "#!/usr/bin/app"
#   usr/bin/app-missing    needs libmissing.so.1, which is absent
#   opt/app/bin/app-origin RUNPATH $ORIGIN/../lib: libbar.so.1 in opt/app/lib
#   opt/rp/bin/app-rpath   RPATH /opt/rp/lib: libbaz.so.1
#   etc/ld.so.conf         include ld.so.conf.d/*.conf -> /opt/extra/lib
set -euo pipefail
cd "$(dirname "$0")"
rm -rf sysroot build && mkdir -p build sysroot/{usr/lib,usr/bin,lib64,opt/app/bin,opt/app/lib,opt/rp/bin,opt/rp/lib,opt/extra/lib,etc/ld.so.conf.d}
so() { gcc -shared -fPIC -nostdlib -Wl,-soname,"$1" -o "$2" src/lib.c; }
so libc.so.6 sysroot/usr/lib/libc.so.6
so libfoo.so.1 sysroot/usr/lib/libfoo.so.1.0
ln -s libfoo.so.1.0 sysroot/usr/lib/libfoo.so.1
so libextra.so.1 sysroot/opt/extra/lib/libextra.so.1
so libbar.so.1 sysroot/opt/app/lib/libbar.so.1
so libbaz.so.1 sysroot/opt/rp/lib/libbaz.so.1
so libmissing.so.1 build/libmissing.so.1
gcc -static -nostdlib -o sysroot/usr/lib/ld-stub.so src/ldso.c
ln -s ../usr/lib/ld-stub.so sysroot/lib64/ld-linux-x86-64.so.2
ln -s usr/lib sysroot/lib
app() { out=$1; shift; gcc -o "$out" src/app.c -nostdlib -Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2 -Wl,-e,main -Wl,--no-as-needed "$@"; }
app sysroot/usr/bin/app sysroot/usr/lib/libfoo.so.1 sysroot/opt/extra/lib/libextra.so.1 sysroot/usr/lib/libc.so.6
app sysroot/usr/bin/app-missing build/libmissing.so.1 sysroot/usr/lib/libc.so.6
app sysroot/opt/app/bin/app-origin sysroot/opt/app/lib/libbar.so.1 -Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib'
app sysroot/opt/rp/bin/app-rpath sysroot/opt/rp/lib/libbaz.so.1 -Wl,--disable-new-dtags,-rpath,/opt/rp/lib
printf '#!/usr/bin/app\n' > sysroot/usr/bin/app-script && chmod 755 sysroot/usr/bin/app-script
printf 'include ld.so.conf.d/*.conf\n' > sysroot/etc/ld.so.conf
printf '# extra\n/opt/extra/lib\n' > sysroot/etc/ld.so.conf.d/extra.conf
strip --strip-unneeded sysroot/usr/lib/*.so* sysroot/opt/*/lib/*.so* sysroot/usr/bin/app* sysroot/opt/*/bin/* 2>/dev/null || true
rm -rf build
