//! The image lifecycle on the local store: `images`, `image inspect`, `history`, `tag`, `rmi`,
//! `image prune`, `gc`, `save` and `load`, and several processes changing tags at once.

mod archives;
mod listing;
mod removal;

use crate::support::{Run, Sandbox};

/// A workspace with a base Dockerfile (`base/`), one built on it (`app/`, `FROM base:1`) and a
/// bld image target (`//pkg:image`).
pub(crate) fn store_with_images() -> Sandbox {
    let sandbox = Sandbox::with_files(&[
        (
            "base/Dockerfile",
            "FROM scratch\nCOPY a.txt /a.txt\nENV A=1\nLABEL team=core\n",
        ),
        ("base/a.txt", "base file\n"),
        (
            "app/Dockerfile",
            "FROM base:1\nCOPY b.txt /b.txt\nWORKDIR /srv\nCMD [\"/b.txt\"]\nEXPOSE 8080\n",
        ),
        ("app/b.txt", "app file\n"),
        (
            "pkg/BUILD.star",
            "pkg_tar(name = \"files\", srcs = [\"c.txt\"])\noci_image(name = \"image\", tars = [\":files\"])\n",
        ),
        ("pkg/c.txt", "c\n"),
    ]);
    sandbox.bld(&["build", "-t", "base:1", "base"]).ok();
    sandbox
        .bld(&[
            "build",
            "-t",
            "app:1",
            "-t",
            "registry.example:5000/team/app:v1",
            "app",
        ])
        .ok();
    sandbox.bld(&["build", "//pkg:image"]).ok();
    sandbox
}

/// The table rows after the header, split into columns at runs of 2+ spaces.
pub(crate) fn rows(run: &Run) -> Vec<Vec<String>> {
    run.stdout
        .lines()
        .skip(1)
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

pub(crate) fn image_id(sandbox: &Sandbox, name: &str) -> String {
    sandbox
        .bld(&["image", "inspect", "--format", "{{.Id}}", name])
        .ok()
        .stdout
        .trim()
        .to_owned()
}
