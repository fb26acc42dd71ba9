//! The Dockerfiles `docker_peer` builds with both bld and Docker.

/// One Dockerfile, its context files and its `--build-arg`s, built by both.
pub struct Case {
    pub name: &'static str,
    pub dockerfile: &'static str,
    pub files: &'static [(&'static str, &'static str)],
    pub build_args: &'static [&'static str],
    /// Whether Docker refuses it (then bld must too): a case that should build and does not
    /// on either side is a difference, not an agreement.
    pub fails: bool,
}

pub const CASES: &[Case] = &[
    Case {
        name: "run-environment",
        dockerfile: "FROM busybox\nRUN mkdir -p /etc /w && chmod 777 /w && echo root:x:0:0:root:/root:/bin/sh > /etc/passwd && echo u:x:1000:1000::/home/u:/bin/sh >> /etc/passwd && printf 'root:x:0:\\ng2:x:2000:u\\nu:x:1000:\\n' > /etc/group\nRUN (env; cat /etc/hosts /etc/resolv.conf; hostname; id; grep -E ' /proc | /sys ' /proc/mounts) > /out 2>&1\nUSER u\nRUN id > /w/id\n",
        files: &[],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "seccomp",
        dockerfile: "FROM busybox\nRUN grep -E '^(Seccomp|NoNewPrivs|CapEff)' /proc/self/status > /status\nRUN (unshare -U true; echo unshare=$?; linux32 uname -m; echo linux32=$?; nice -n -5 true; echo nice=$?) > /calls 2>&1\n",
        files: &[],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "expose-and-stopsignal",
        dockerfile: "FROM busybox\nEXPOSE 80 8080/TCP 53/udp 1-3/sctp 127.0.0.1:90:9000 443/\nSTOPSIGNAL sigrtmin+3\nWORKDIR /\n",
        files: &[],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "expose-port-out-of-range",
        dockerfile: "FROM busybox\nEXPOSE 99999\n",
        files: &[],
        fails: true,
        build_args: &[],
    },
    Case {
        name: "expose-unknown-protocol",
        dockerfile: "FROM busybox\nEXPOSE 80/xyz\n",
        files: &[],
        fails: true,
        build_args: &[],
    },
    Case {
        name: "unknown-stop-signal",
        dockerfile: "FROM busybox\nSTOPSIGNAL SIGFOO\n",
        files: &[],
        fails: true,
        build_args: &[],
    },
    Case {
        name: "chmod-parents",
        dockerfile: "FROM busybox\nCOPY --chmod=0600 f /newdir/f\nCOPY --chmod=0640 dir /dircopy/\nCOPY --chmod=0600 --chown=5:6 f /a/b/c/f\n",
        files: &[("f", "f\n"), ("dir/g", "g\n")],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "copy-from-owners",
        dockerfile: "FROM busybox AS src\nRUN mkdir -p /out/sub && echo x > /out/sub/f && chown -R 1000:1000 /out\nFROM scratch AS files\nCOPY --chown=7:8 f /f\nCOPY --chown=7:8 dir /d\nFROM busybox\nCOPY --from=src /out /copied\nCOPY --from=files /f /files-f\nCOPY --from=files /d /files-d\nCOPY --from=src --chown=3:4 /out /chowned\n",
        files: &[("f", "f\n"), ("dir/g", "g\n")],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "copy-into-workdir",
        dockerfile: "FROM busybox\nWORKDIR /app\nCOPY a.txt /app\nCOPY b.txt /bin\nRUN stat -c '%n %a %u:%g %s' /app /app/* /bin/b.txt > /listing\n",
        files: &[("a.txt", "a\n"), ("b.txt", "b\n")],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "copy-destinations",
        dockerfile: "FROM busybox AS src\nRUN mkdir -m 1777 /tmp && mkdir -p /usr/local/bin /srv/www /out && chown 5:6 /srv/www && chmod 750 /srv/www && ln -s srv/www /www && ln -s /usr/local/bin /lbin && echo o > /out/o && ln -s /bin/busybox /lfile\nFROM scratch AS files\nCOPY dir /app/\nCOPY f /app\nFROM src\nCOPY f /tmp/f\nCOPY f /www\nCOPY g /lbin\nCOPY f /www/sub/h\nCOPY --chown=1:1 dir /srv/www\nCOPY f g /usr/local/bin\nCOPY f /lfile\nCOPY --from=files /app /srv/www\nCOPY --from=src /out /tmp\nUSER 1000\nWORKDIR /srv/www/new/deeper\nWORKDIR /tmp\nWORKDIR /www\n",
        files: &[
            ("f", "f\n"),
            ("g", "g\n"),
            ("dir/d", "d\n"),
            ("dir/sub/s", "s\n"),
        ],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "chown-by-name",
        dockerfile: "FROM busybox AS src\nRUN mkdir -p /etc /out && echo o > /out/o && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'app:x:1001:1002::/home/app:/bin/sh' >> /etc/passwd && printf 'root:x:0:\\nstaff:x:50:\\napp:x:1002:\\n' > /etc/group\nFROM src\nCOPY --chown=app f /a/f\nCOPY --chown=app:staff dir /b/\nCOPY --chown=1001:staff f /c\nCOPY --chown=app:app dir /d\nCOPY --from=src --chown=app /out /e\nUSER app\nWORKDIR /home/app/w\n",
        files: &[("f", "f\n"), ("dir/g", "g\n"), ("dir/sub/h", "h\n")],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "chown-unknown-user",
        dockerfile: "FROM busybox\nCOPY --chown=nosuch f /f\n",
        files: &[("f", "f\n")],
        fails: true,
        build_args: &[],
    },
    Case {
        name: "config",
        dockerfile: "FROM busybox\nENV A=1 B=\"two words\"\nLABEL l=v\nEXPOSE 80 53/udp\nUSER 1000:1000\nWORKDIR /w\nVOLUME /data\nSTOPSIGNAL SIGINT\nENTRYPOINT [\"/bin/sh\"]\nCMD [\"-c\", \"echo hi\"]\n",
        files: &[],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "run-and-copy",
        dockerfile: "FROM busybox\nRUN mkdir -p /srv/x && echo made > /srv/x/f && ln -s x /srv/l && rm /bin/vi\nCOPY a.txt /srv/a.txt\nCOPY dir /srv/dir/\n",
        files: &[
            ("a.txt", "a\n"),
            ("dir/b.txt", "b\n"),
            ("dir/sub/c.txt", "c\n"),
        ],
        fails: false,
        build_args: &[],
    },
    // The history's texts (issue 11): the ARGs in scope of a RUN (`|N A=1 …`, a name declared
    // twice listed twice, an unset one empty, ENV over ARG, global and platform ARGs
    // redeclared), exec and shell forms, ARG rows with expanded defaults.
    Case {
        name: "history-build-args",
        dockerfile: "ARG G=g\nFROM busybox\nARG A=1\nARG B\nRUN echo \"$A $B\" > /ab\nARG C=3 D=dflt\nARG Z=$A\nENV E=5\nRUN [\"/bin/sh\", \"-c\", \"echo $C $D $Z > /cdz\"]\nARG A=9\nARG G TARGETARCH U\nENV G=override\nRUN echo \"$A $G $TARGETARCH\" > /agt\n",
        files: &[],
        fails: false,
        build_args: &["B=2", "D=given"],
    },
    // Every metadata instruction's text (Go's %q and %v, EXPOSE's port set, HEALTHCHECK's
    // struct), SHELL changing RUN, CMD and ENTRYPOINT, ONBUILD without a row, ADD and COPY
    // without their flags, CMD setting ArgsEscaped.
    Case {
        name: "history-forms",
        dockerfile: "FROM busybox\nENV A=1 B=\"two words\"\nENV C $A\nLABEL l=v \"k 2\"=\"v 2\"\nEXPOSE 80 8080/TCP 53/udp 1-3/sctp 127.0.0.1:90:9000 443/\nEXPOSE 9 10 100\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=90s --timeout=1500ms --start-period=1h --retries=39 CMD [\"wget\", \"-q\", \"x\"]\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN echo a > /a.out\nONBUILD RUN echo hi\nMAINTAINER me <me@x>\nADD a.txt /added\nADD --chown=5:5 dir /dd\nCOPY --chmod=0600 a.txt b.txt /ab/\nCOPY [\"a.txt\", \"/json\"]\nCOPY *.txt /glob/\nVOLUME /data\nVOLUME [\"/v1\", \"/v2\"]\nWORKDIR /\nENTRYPOINT echo c\nCMD [\"a\\\"b\", \"c\\\\d\", \"\u{e9}\"]\nUSER 1000:1000\n",
        files: &[("a.txt", "a\n"), ("b.txt", "b\n"), ("dir/g", "g\n")],
        fails: false,
        build_args: &[],
    },
    // COPY --from stages (known at analysis, and built) and an image, by name and index, with
    // --chown; a stage on a stage with CMD: ArgsEscaped inherited through ENTRYPOINT, which
    // clears the CMD, and the base's ONBUILD trigger's row.
    Case {
        name: "history-stages",
        dockerfile: "FROM busybox AS src\nRUN mkdir /out && echo x > /out/f\nFROM scratch AS files\nCOPY --chown=7:8 a.txt /f\nFROM busybox AS withcmd\nCMD echo base\nONBUILD RUN echo trig > /trig\nFROM withcmd\nCOPY --from=src /out /copied\nCOPY --from=files /f /files-f\nCOPY --from=src --chown=3:4 /out /chowned\nCOPY --from=0 /out /idx\nCOPY --from=busybox /bin/busybox /bb\nENTRYPOINT [\"echo\"]\n",
        files: &[("a.txt", "a\n")],
        fails: false,
        build_args: &[],
    },
    // An image on scratch has `WorkingDir: "/"`.
    Case {
        name: "scratch",
        dockerfile: "FROM scratch\nCOPY a.txt /a\n",
        files: &[("a.txt", "a\n")],
        fails: false,
        build_args: &[],
    },
    Case {
        name: "special-files",
        dockerfile: crate::peers::SPECIAL_FILES_DOCKERFILE,
        files: &[],
        fails: false,
        build_args: &[],
    },
];

/// Makes a context file's bytes.
pub type MakeFile = fn() -> Vec<u8>;

/// Context files a case needs that are not text, made by the test: (case, path, maker).
pub const MADE_FILES: &[(&str, &str, MakeFile)] =
    &[("special-files", "caps.tar", crate::peers::caps_archive)];
