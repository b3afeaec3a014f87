"""Core layer: what every other layer may use and which uses nothing of the
package: the error classes (:mod:`.errors`), atomic file writes
(:mod:`.files`), the repository's and the installed data's paths
(:mod:`.paths`), argument validation (:mod:`.validation`), ``module:factory``
specs and their messages (:mod:`.factories`), the one
parameter counter (:mod:`.parameters`) and row orders made total by
tie-breaks (:mod:`.ordering`)."""
