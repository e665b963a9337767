/*
 * A table ovmm must refuse (it generates its own DSDT): the lab's --acpi-table scenario checks
 * the error. Compiled as /lab/guest/dsdt.aml.
 */
DefinitionBlock ("", "DSDT", 2, "OVMM", "NOTMINE", 1)
{
}
