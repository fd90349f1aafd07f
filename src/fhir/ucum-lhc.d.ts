/** The part of @lhncbc/ucum-lhc (which ships no types) that kap-bridge uses. */
declare module '@lhncbc/ucum-lhc' {
  interface UcumLhcUtils {
    convertUnitTo(fromUnit: string, fromValue: number, toUnit: string): { status: string; toVal?: number };
  }
  const ucum: { UcumLhcUtils: { getInstance(): UcumLhcUtils } };
  export default ucum;
}
