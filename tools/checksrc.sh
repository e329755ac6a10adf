#!/usr/bin/env bash
# checksrc.sh -- the source checks clang-format cannot do (STYLE 2.1, 2.2, 2.10).
#
# Checks every .c and .h under src/ include/ tests/ fuzz/ bench/ that git
# tracks, plus untracked files that are not ignored (so it works before the
# first commit):
#   - no call to a banned function (strcpy strcat sprintf vsprintf gets strtok
#     atoi atol atof strncpy rand system tmpnam), outside comments and strings;
#   - the file starts with a header comment ("/*" on line 1);
#   - a header's first directives are "#ifndef COFFER_<NAME>_H" and the same
#     "#define", and its last is "#endif"; under include/coffer/ <NAME> is the
#     file name (include/coffer/objpath.h -> COFFER_OBJPATH_H);
#   - no assignment inside the condition of an if or a while (STYLE 2.3: set
#     the variable first, then test it);
#   - dependencies point down (docs/ARCHITECTURE.md): a file under src/<dir>/
#     includes only the headers of its own layer and of the layers its
#     directory may use (the table %uses below), and no other directory's
#     private "_int.h". A new header or directory must be added to the
#     tables, so the layering is decided, not drifted into.
# Prints each violation as FILE:LINE: message and exits 1 if there is any.
# Usage: tools/checksrc.sh [FILE...]   (default: every file described above)
set -euo pipefail

files=()
if [ $# -gt 0 ]; then
    files=("$@")
elif ! cd "$(dirname "$0")/.."; then
    exit 2
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    dirs=(src include tests fuzz bench)
    while IFS= read -r -d '' f; do
        case "$f" in
        *.c | *.h) [ -f "$f" ] && files+=("$f") ;;
        esac
    done < <({
        git ls-files -z -- "${dirs[@]}"
        git ls-files -z --others --exclude-standard -- "${dirs[@]}"
    } | sort -zu)
else
    # Not a git checkout (a release tarball): every file is the source.
    while IFS= read -r -d '' f; do
        files+=("${f#./}")
    done < <(find src include tests fuzz bench \( -name '*.c' -o -name '*.h' \) -type f \
        -print0 2>/dev/null | sort -z)
fi
[ ${#files[@]} -gt 0 ] || exit 0

exec perl -e '
use strict;
use warnings;

my %advice = (
    strcpy   => "use memcpy with a known length, or snprintf and check for truncation",
    strcat   => "use snprintf and check for truncation, or struct cf_buf",
    strncpy  => "it truncates silently and may not terminate; use memcpy or snprintf",
    sprintf  => "use snprintf and check for truncation",
    vsprintf => "use vsnprintf and check for truncation",
    gets     => "use fgets",
    strtok   => "use strtok_r or walk the string",
    atoi     => "use strtoull with an end pointer and errno checks",
    atol     => "use strtoull with an end pointer and errno checks",
    atof     => "use strtod with an end pointer and errno checks",
    rand     => "use a seeded local generator or getrandom(2)",
    system   => "use fork and execve",
    tmpnam   => "use mkstemp",
);
my $banned = join "|", sort keys %advice;

# Which part of the system each public header belongs to.
my %owner;
for my $pair (
    [common  => [qw(common err log buf conf limits io http httpc cred keyring net role metrics sha512 hex
                    objpath range uuid tls beat upstream xform)]],
    [db      => [qw(db dbgroup shardset clockguard lease)]],
    [objdb   => [qw(objdb scribe registry)]],
    [fsdb    => [qw(fsdb)]],
    [cluster => [qw(distrib pump fanout fetch replica tracker)]],
    [maint   => [qw(job maint purge)]],
    [filer   => [qw(store filer)]],
    [app     => [qw(app)]],
    [objsrv  => [qw(objsrv)]],
    [gateway => [qw(gateway auth sigv4)]],
    [monitor => [qw(monitor probe)]],
    [server  => [qw(server)]],
    [cli     => [qw(cli)]],
) {
    $owner{$_} = $pair->[0] for @{ $pair->[1] };
}
# What the files of each directory of src/ may include, besides their own
# part: the layers below them. Roles never include each other; only the
# embedded server, the command line and main.c see every role.
my @base = qw(common);
my %uses = (
    common  => [@base],
    db      => [@base],
    objdb   => [@base, qw(db)],
    fsdb    => [@base, qw(db)],
    cluster => [@base, qw(db objdb)],
    maint   => [@base, qw(db objdb cluster)],
    filer   => [@base],
    app     => [@base, qw(db objdb cluster maint)],
    objsrv  => [@base, qw(db objdb cluster)],
    gateway => [@base, qw(db fsdb cluster)],
    monitor => [@base, qw(db objdb cluster)],
    server  => [keys %{{ map { $_ => 1 } values %owner }}],
    cli     => [keys %{{ map { $_ => 1 } values %owner }}],
    ""      => [keys %{{ map { $_ => 1 } values %owner }}],   # src/main.c
);
my $bad = 0;

sub report {
    my ($file, $line, $msg) = @_;
    print "$file:$line: $msg\n";
    $bad++;
}

# Blank out comments, string literals and character literals, keeping every
# newline so that offsets and line numbers stay true.
sub strip {
    my ($s) = @_;
    $s =~ s{ /\*.*?(?:\*/|\z) | //[^\n]* | "(?:\\.|[^"\\\n])*"? | \x27(?:\\.|[^\x27\\\n])*\x27? }
           { (my $m = $&) =~ s/[^\n]/ /g; $m }gsex;
    return $s;
}

sub line_of {
    my ($s, $pos) = @_;
    return 1 + (substr($s, 0, $pos) =~ tr/\n//);
}

for my $file (@ARGV) {
    open(my $fh, "<", $file) or do { report($file, 0, "cannot read: $!"); next };
    local $/;
    my $text = <$fh>;
    close $fh;
    $text = "" unless defined $text;

    report($file, 1, "no header comment: the file must start with /* (STYLE 2.4)")
        unless $text =~ m{\A/\*};

    my $code = strip($text);
    while ($code =~ /\b($banned)\s*\(/g) {
        my $fn = $1;
        report($file, line_of($code, $-[0]),
               "banned function $fn() (STYLE 2.10): $advice{$fn}");
    }

    # An assignment in an if or while condition: "if (x = f())",
    # "while ((x = f()) != NULL)". Comparisons (== != <= >=) are not.
    while ($code =~ /\b(if|while)\s*\(/g) {
        my ($kw, $at) = ($1, $-[0]);
        my $depth = 1;
        my $i = pos($code);
        my $start = $i;
        while ($i < length($code) && $depth > 0) {
            my $c = substr($code, $i, 1);
            $depth++ if $c eq "(";
            $depth-- if $c eq ")";
            $i++;
        }
        my $cond = substr($code, $start, $i - $start - 1);
        if ($cond =~ /(?<![=!<>+\-*\/%&|^])=(?!=)/) {
            report($file, line_of($code, $at),
                   "assignment inside the condition of $kw (STYLE 2.3): assign first, then test");
        }
    }

    if ($file =~ m{(?:\A|/)src/(?:([a-z]+)/)?[^/]+\z}) {
        my $dir = defined $1 ? $1 : "";
        if (!exists $uses{$dir}) {
            report($file, 1, "src/$dir/ is not in the layer table of checksrc.sh: add it");
        } else {
            my %ok = map { $_ => 1 } @{ $uses{$dir} };
            $ok{$dir} = 1;
            while ($text =~ /^[ \t]*#[ \t]*include[ \t]*"([^"]+)"/mg) {
                my ($inc, $line) = ($1, line_of($text, $-[0]));
                if ($inc =~ m{\Acoffer/([a-z0-9_]+)\.h\z}) {
                    my $part = $owner{$1};
                    if (!defined $part) {
                        report($file, $line, "coffer/$1.h is not in the header table of checksrc.sh: add it");
                    } elsif (!$ok{$part}) {
                        report($file, $line, "src/$dir/ may not include coffer/$1.h (part $part):"
                               . " dependencies point down (docs/ARCHITECTURE.md)");
                    }
                } elsif ($inc =~ m{/}) {
                    report($file, $line, "include \"$inc\": a private header of another directory");
                }
            }
        }
    }

    next unless $file =~ /\.h\z/;
    my @dirs;
    while ($code =~ /^[ \t]*#[ \t]*(\w+)[ \t]*([^\n]*)/mg) {
        my ($d, $arg) = ($1, $2);
        $arg =~ s/\s+\z//;
        push @dirs, [$d, $arg, line_of($code, $-[0])];
    }
    my $want;
    if ($file =~ m{(?:\A|/)include/coffer/([^/]+)\.h\z}) {
        ($want = uc $1) =~ s/[^A-Z0-9]/_/g;
        $want = "COFFER_${want}_H";
    }
    my $form = defined $want ? $want : "COFFER_<NAME>_H";
    if (!@dirs || $dirs[0][0] ne "ifndef") {
        report($file, @dirs ? $dirs[0][2] : 1,
               "no include guard: the first directive must be #ifndef $form (STYLE 2.2)");
        next;
    }
    my $guard = $dirs[0][1];
    if (defined $want ? $guard ne $want : $guard !~ /\ACOFFER_[A-Z0-9_]+_H\z/) {
        report($file, $dirs[0][2], "include guard \"$guard\" should be $form (STYLE 2.2)");
    }
    if (@dirs < 2 || $dirs[1][0] ne "define" || $dirs[1][1] ne $guard) {
        report($file, @dirs > 1 ? $dirs[1][2] : $dirs[0][2],
               "#ifndef $guard must be followed by #define $guard");
    }
    if ($dirs[-1][0] ne "endif") {
        report($file, $dirs[-1][2], "the include guard must end with the last #endif");
    }
}
if ($bad) {
    print STDERR "checksrc: $bad problem(s)\n";
    exit 1;
}
exit 0;
' "${files[@]}"
